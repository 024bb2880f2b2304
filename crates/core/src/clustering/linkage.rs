//! Average-linkage trees (on co-association distances), their cuts, and the
//! silhouette that scores a cut.

use rayon::prelude::*;
use reelmap_numeric::dot;

/// One merge of a hierarchical clustering: the clusters holding points `a` and `b`
/// joined at `height`.
#[derive(Debug, Clone, Copy)]
pub struct Merge {
    pub height: f64,
    pub a: usize,
    pub b: usize,
}

/// Average-linkage (UPGMA) hierarchical clustering of n points from their row-major
/// n×n distance matrix, by the nearest-neighbour chain algorithm (O(n²) time; average
/// linkage is reducible, so the chain finds the same tree as the greedy algorithm).
/// Returns the n-1 merges sorted by height.
pub fn average_linkage(dist: &[f32], n: usize) -> Vec<Merge> {
    assert_eq!(dist.len(), n * n);
    let mut d: Vec<f64> = dist.iter().map(|&x| x as f64).collect();
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    let mut chain: Vec<usize> = Vec::new();
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push(active.iter().position(|&a| a).expect("an active cluster"));
        }
        let (a, b) = loop {
            let a = *chain.last().unwrap();
            let prev = (chain.len() >= 2).then(|| chain[chain.len() - 2]);
            // The previous link wins ties, which is what guarantees termination.
            let mut best = prev.map(|p| (p, d[a * n + p]));
            for x in 0..n {
                if x != a && active[x] && best.is_none_or(|(_, bd)| d[a * n + x] < bd) {
                    best = Some((x, d[a * n + x]));
                }
            }
            let (b, _) = best.expect("two active clusters");
            if Some(b) == prev {
                chain.pop();
                chain.pop();
                break (a, b);
            }
            chain.push(b);
        };
        merges.push(Merge {
            height: d[a * n + b],
            a,
            b,
        });
        // The joined cluster lives on in slot a (Lance-Williams update for UPGMA).
        let (na, nb) = (size[a] as f64, size[b] as f64);
        for x in 0..n {
            if active[x] && x != a && x != b {
                let v = (na * d[a * n + x] + nb * d[b * n + x]) / (na + nb);
                d[a * n + x] = v;
                d[x * n + a] = v;
            }
        }
        size[a] += size[b];
        active[b] = false;
        remaining -= 1;
    }
    merges.sort_by(|x, y| x.height.total_cmp(&y.height));
    merges
}

/// Labels 0..k of the partition into k clusters given by the first n-k merges,
/// numbered in order of each cluster's first point.
pub fn cut_tree(merges: &[Merge], n: usize, k: usize) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for m in merges.iter().take(n.saturating_sub(k.max(1))) {
        let (ra, rb) = (find(&mut parent, m.a), find(&mut parent, m.b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut label_of_root = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = find(&mut parent, i);
            if label_of_root[r] == usize::MAX {
                label_of_root[r] = next;
                next += 1;
            }
            label_of_root[r]
        })
        .collect()
}

/// Silhouette of one point of cluster `own` (of size > 1), given the sum of its
/// distances to the members of every cluster (itself excluded) and the cluster sizes.
fn point_silhouette(own: usize, sum: &[f64], sizes: &[usize]) -> f64 {
    let a = sum[own] / (sizes[own] - 1) as f64;
    let b = (0..sizes.len())
        .filter(|&c| c != own && sizes[c] > 0)
        .map(|c| sum[c] / sizes[c] as f64)
        .fold(f64::INFINITY, f64::min);
    if !b.is_finite() {
        return 0.0;
    }
    (b - a) / a.max(b).max(1e-12)
}

/// Mean silhouette from a precomputed row-major n×n distance matrix.
pub fn silhouette_from_distances(dist: &[f32], labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if k < 2 || n <= k {
        return 0.0;
    }
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let mut sum = vec![0f64; k];
            for (j, &dij) in dist[i * n..(i + 1) * n].iter().enumerate() {
                if j != i {
                    sum[labels[j]] += dij as f64;
                }
            }
            point_silhouette(own, &sum, &sizes)
        })
        .sum();
    total / n as f64
}

/// Mean silhouette with cosine distance on unit vectors (1 - dot). For large
/// inputs a deterministic subsample of points is scored against all points.
pub fn silhouette(data: &[Vec<f32>], labels: &[usize], k: usize, max_points: usize) -> f64 {
    let n = data.len();
    if k < 2 || n <= k {
        return 0.0;
    }
    let step = n.div_ceil(max_points.max(1)).max(1);
    let idx: Vec<usize> = (0..n).step_by(step).collect();
    let sizes = {
        let mut s = vec![0usize; k];
        for &l in labels {
            s[l] += 1;
        }
        s
    };
    let vals: Vec<f64> = idx
        .par_iter()
        .map(|&i| {
            let mut sum = vec![0f64; k];
            for (j, p) in data.iter().enumerate() {
                if j != i {
                    sum[labels[j]] += (1.0 - dot(&data[i], p)) as f64;
                }
            }
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            point_silhouette(own, &sum, &sizes)
        })
        .collect();
    vals.iter().sum::<f64>() / vals.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clustering::kmeans::kmeans;
    use crate::clustering::kmeans::tests::blobs;
    use reelmap_numeric::SplitMix64 as Rng;

    /// UPGMA the slow way: merge the closest pair of clusters (mean pairwise
    /// distance of their members), one merge at a time.
    fn naive_average_linkage(dist: &[f32], n: usize) -> Vec<f64> {
        let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let mut heights = Vec::new();
        while clusters.len() > 1 {
            let mut best = (f64::INFINITY, 0, 0);
            for a in 0..clusters.len() {
                for b in a + 1..clusters.len() {
                    let sum: f64 = clusters[a]
                        .iter()
                        .flat_map(|&i| clusters[b].iter().map(move |&j| dist[i * n + j] as f64))
                        .sum();
                    let d = sum / (clusters[a].len() * clusters[b].len()) as f64;
                    if d < best.0 {
                        best = (d, a, b);
                    }
                }
            }
            let merged = clusters.remove(best.2);
            clusters[best.1].extend(merged);
            heights.push(best.0);
        }
        heights
    }

    #[test]
    fn average_linkage_matches_the_naive_algorithm() {
        let mut rng = Rng::seeded(11);
        let n = 30;
        let pts: Vec<[f64; 3]> = (0..n)
            .map(|_| [rng.next_f64(), rng.next_f64(), rng.next_f64()])
            .collect();
        let dist: Vec<f32> = pts
            .iter()
            .flat_map(|a| {
                pts.iter().map(move |b| {
                    a.iter()
                        .zip(b)
                        .map(|(x, y)| (x - y).powi(2))
                        .sum::<f64>()
                        .sqrt() as f32
                })
            })
            .collect();
        let merges = average_linkage(&dist, n);
        let want = naive_average_linkage(&dist, n);
        assert_eq!(merges.len(), n - 1);
        for (m, w) in merges.iter().zip(&want) {
            assert!((m.height - w).abs() < 1e-5, "{} vs {w}", m.height);
        }
        // Cuts: k clusters, numbered by first point, nested as k falls.
        let five = cut_tree(&merges, n, 5);
        let four = cut_tree(&merges, n, 4);
        assert_eq!(five.iter().max(), Some(&4));
        assert_eq!(five[0], 0);
        for i in 0..n {
            for j in 0..n {
                if five[i] == five[j] {
                    assert_eq!(four[i], four[j]);
                }
            }
        }
        assert_eq!(cut_tree(&merges, n, n), (0..n).collect::<Vec<_>>());
        assert!(cut_tree(&merges, n, 1).iter().all(|&l| l == 0));
    }

    #[test]
    fn silhouette_prefers_true_k() {
        let (data, _) = blobs(3);
        let s: Vec<f64> = (2..6)
            .map(|k| {
                let r = kmeans(&data, k, 5, 1);
                silhouette(&data, &r.labels, k, 1000)
            })
            .collect();
        let best = s
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
            + 2;
        assert_eq!(best, 3, "{s:?}");
    }
}
