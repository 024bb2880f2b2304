//! Grouping videos: k-means++ with restarts (deterministic for a seed), automatic
//! choice of k, and an "Unsorted" bin for videos that fit no group.

use crate::util::{dot, squared_distance};
use rayon::prelude::*;

/// A small, fast, seedable PRNG (SplitMix64): results must be reproducible for a
/// seed, on every platform, without pulling in a dependency for it.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n.max(1)
    }
}

#[derive(Debug, Clone)]
pub struct KMeans {
    pub k: usize,
    pub labels: Vec<usize>,
    pub centroids: Vec<Vec<f32>>,
    /// Sum of squared distances of points to their centroid.
    pub inertia: f64,
}

fn nearest(point: &[f32], centroids: &[Vec<f32>]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (j, c) in centroids.iter().enumerate() {
        let d = squared_distance(point, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// Greedy k-means++ seeding (as in scikit-learn): each next centre is the best, by the
/// resulting sum of squared distances, of 2 + ln k candidates drawn with probability
/// proportional to the squared distance to the nearest centre chosen so far. Plain
/// k-means++ (one candidate) left the dev sets' k-means in poor local optima often
/// enough to move both the scores at a given k and the silhouette curve that chooses k.
/// Seeding continues from `centroids` when some are given (the centres of clusters kept
/// from an earlier run).
fn kmeans_pp(
    data: &[Vec<f32>],
    mut centroids: Vec<Vec<f32>>,
    k: usize,
    rng: &mut Rng,
) -> Vec<Vec<f32>> {
    let n = data.len();
    let trials = 2 + (k as f64).ln().floor() as usize;
    if centroids.len() >= k {
        return centroids;
    }
    if centroids.is_empty() {
        centroids.push(data[rng.below(n)].clone());
    }
    let mut d2: Vec<f32> = data.par_iter().map(|p| nearest(p, &centroids).1).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().map(|&x| x as f64).sum();
        let draw = |rng: &mut Rng| {
            if total <= 0.0 {
                return rng.below(n);
            }
            let mut target = rng.next_f64() * total;
            for (i, &x) in d2.iter().enumerate() {
                target -= x as f64;
                if target <= 0.0 {
                    return i;
                }
            }
            n - 1
        };
        let candidates: Vec<usize> = (0..trials).map(|_| draw(rng)).collect();
        let (_, best_d2) = candidates
            .par_iter()
            .map(|&c| {
                let nd: Vec<f32> = data
                    .iter()
                    .zip(&d2)
                    .map(|(p, &d)| d.min(squared_distance(p, &data[c])))
                    .collect();
                (nd.iter().map(|&x| x as f64).sum::<f64>(), (c, nd))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("at least two candidates");
        let (idx, nd) = best_d2;
        d2 = nd;
        centroids.push(data[idx].clone());
    }
    centroids
}

/// Lloyd's algorithm from given centres. `fixed[i] = Some(j)` pins point i to
/// cluster j (user assignments): it still pulls its centroid but never moves.
fn lloyd(
    data: &[Vec<f32>],
    mut centroids: Vec<Vec<f32>>,
    fixed: &[Option<usize>],
    max_iter: usize,
) -> KMeans {
    let k = centroids.len();
    let dim = data[0].len();
    let mut labels = vec![usize::MAX; data.len()];
    for _ in 0..max_iter {
        let new_labels: Vec<usize> = data
            .par_iter()
            .zip(fixed.par_iter())
            .map(|(p, f)| f.unwrap_or_else(|| nearest(p, &centroids).0))
            .collect();
        let changed = new_labels != labels;
        labels = new_labels;
        let mut sums = vec![vec![0f64; dim]; k];
        let mut counts = vec![0usize; k];
        for (p, &l) in data.iter().zip(&labels) {
            counts[l] += 1;
            for (s, &x) in sums[l].iter_mut().zip(p) {
                *s += x as f64;
            }
        }
        for j in 0..k {
            if counts[j] > 0 {
                centroids[j] = sums[j]
                    .iter()
                    .map(|s| (*s / counts[j] as f64) as f32)
                    .collect();
            } else {
                // Empty cluster: restart it at the point farthest from its centre.
                let far = data
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| fixed[*i].is_none())
                    .map(|(i, p)| (i, squared_distance(p, &centroids[labels[i]])))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((i, _)) = far {
                    centroids[j] = data[i].clone();
                    labels[i] = j;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let inertia = data
        .iter()
        .zip(&labels)
        .map(|(p, &l)| squared_distance(p, &centroids[l]) as f64)
        .sum();
    KMeans {
        k,
        labels,
        centroids,
        inertia,
    }
}

/// k-means with k-means++ seeding and `restarts` runs, keeping the lowest inertia.
/// Deterministic for a given seed.
pub fn kmeans(data: &[Vec<f32>], k: usize, restarts: usize, seed: u64) -> KMeans {
    kmeans_constrained(data, k, restarts, seed, &vec![None; data.len()], &[])
}

/// k-means where some points are pinned to clusters and some centres are given
/// (`initial` for the first clusters, e.g. clusters a person created). The rest of the
/// centres come from k-means++.
pub fn kmeans_constrained(
    data: &[Vec<f32>],
    k: usize,
    restarts: usize,
    seed: u64,
    fixed: &[Option<usize>],
    initial: &[Vec<f32>],
) -> KMeans {
    assert!(!data.is_empty());
    let k = k.clamp(1, data.len());
    let mut best: Option<KMeans> = None;
    for r in 0..restarts.max(1) {
        let mut rng = Rng::new(seed.wrapping_add(r as u64 * 7919));
        let given: Vec<Vec<f32>> = initial.iter().take(k).cloned().collect();
        let centroids = kmeans_pp(data, given, k, &mut rng);
        let run = lloyd(data, centroids, fixed, 100);
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    best.unwrap()
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
            let a = sum[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sum[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b).max(1e-12)
        })
        .collect();
    vals.iter().sum::<f64>() / vals.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let centres = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..20 {
                let mut p: Vec<f32> = centre
                    .iter()
                    .map(|x| x + (rng.next_f64() as f32 - 0.5) * 0.2)
                    .collect();
                crate::util::l2_normalize(&mut p);
                data.push(p);
                truth.push(c);
            }
        }
        (data, truth)
    }

    #[test]
    fn kmeans_separates_clear_groups_and_is_deterministic() {
        let (data, truth) = blobs(1);
        let a = kmeans(&data, 3, 5, 42);
        let b = kmeans(&data, 3, 5, 42);
        assert_eq!(a.labels, b.labels);
        let s = crate::metrics::score(&truth, &a.labels);
        assert_eq!(s.accuracy, 1.0);
    }

    #[test]
    fn pinned_points_stay() {
        let (data, _) = blobs(2);
        let mut fixed = vec![None; data.len()];
        fixed[0] = Some(2); // a point of group 0 pinned into cluster 2
        let r = kmeans_constrained(&data, 3, 3, 7, &fixed, &[]);
        assert_eq!(r.labels[0], 2);
    }

    #[test]
    fn seeding_finds_small_clusters_beside_big_ones() {
        // Two big and four small well-separated groups: one k-means run per seed must
        // give each group its own cluster (a poor seeding puts two centres in a big
        // group and merges two small ones).
        let mut rng = Rng::new(3);
        let sizes = [60, 60, 6, 6, 6, 6];
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let mut p: Vec<f32> = (0..6)
                    .map(|d| (d == c) as u8 as f32 + (rng.next_f64() as f32 - 0.5) * 0.3)
                    .collect();
                crate::util::l2_normalize(&mut p);
                data.push(p);
                truth.push(c);
            }
        }
        let mut failures = 0;
        for seed in 0..40 {
            let r = kmeans(&data, 6, 1, seed);
            let mut pairs: Vec<(usize, usize)> = truth
                .iter()
                .copied()
                .zip(r.labels.iter().copied())
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            if pairs.len() != 6 {
                failures += 1;
            }
        }
        // (Measured: greedy seeding 4 of 40, plain k-means++ 15 of 40.)
        assert!(failures <= 8, "{failures} of 40 seeds merged groups");
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
