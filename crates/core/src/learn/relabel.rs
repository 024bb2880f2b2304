//! Learning from what a person taught: the videos they put into clusters by hand
//! spread their cluster over the library's nearest-neighbour graph (label spreading,
//! Zhou et al. 2004), and the videos reached with enough confidence are filed with
//! them. A simulated person correcting a tenth of a library raises the accuracy on
//! the other videos more than pinning only the corrected ones does (the relabel
//! benchmark of `reelmap eval`; numbers in `bench/PROFILING.md`).

use rayon::prelude::*;
use reelmap_numeric::dot;

/// Neighbours per video in the graph.
pub const NEIGHBOURS: usize = 5;
/// Weight of what spreads from the neighbours against what was taught.
const ALPHA: f32 = 0.9;
const ITERATIONS: usize = 50;
/// A video is filed when its best cluster's score is at least this share of a
/// typical taught video's score...
const MIN_SHARE_OF_TAUGHT: f32 = 0.2;
/// ...and holds at least this share of the video's total score.
const MIN_MAJORITY: f32 = 0.5;

/// The `k` nearest other points of each point by cosine similarity (the points are
/// unit length), best first.
pub fn knn(points: &[Vec<f32>], k: usize) -> Vec<Vec<usize>> {
    (0..points.len())
        .into_par_iter()
        .map(|i| {
            let mut sims: Vec<(f32, usize)> = points
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, p)| (dot(&points[i], p), j))
                .collect();
            let k = k.min(sims.len());
            if k > 0 && k < sims.len() {
                sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                sims.truncate(k);
            }
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            sims.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

/// What spreading found for one untaught video.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Index into the classes given to [`spread`].
    pub class: usize,
    /// The video's score for that class, relative to a typical taught video's (1.0).
    pub confidence: f32,
    /// Whether it is confident enough to be filed with that class.
    pub accepted: bool,
}

/// Label spreading from `taught` (point index → class index, classes `0..classes`)
/// over the symmetric kNN graph of `points`. Returns, for every point, the best class
/// reached (None where nothing reached it or for taught points). `refused` lists
/// (point, class) pairs a person rejected: never accepted.
pub fn spread(
    points: &[Vec<f32>],
    taught: &[(usize, usize)],
    classes: usize,
    refused: &[(usize, usize)],
) -> Vec<Option<Spread>> {
    let n = points.len();
    if n == 0 || taught.is_empty() || classes == 0 {
        return vec![None; n];
    }
    let nb = knn(points, NEIGHBOURS);
    // Symmetric 0/1 graph, normalised S = D^-1/2 W D^-1/2.
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, js) in nb.iter().enumerate() {
        for &j in js {
            adj[i].push(j);
            adj[j].push(i);
        }
    }
    for a in adj.iter_mut() {
        a.sort_unstable();
        a.dedup();
    }
    let inv_sqrt_deg: Vec<f32> = adj
        .iter()
        .map(|a| {
            if a.is_empty() {
                0.0
            } else {
                1.0 / (a.len() as f32).sqrt()
            }
        })
        .collect();
    let mut y = vec![0f32; n * classes];
    let mut is_taught = vec![false; n];
    let mut taught_class = vec![None; n];
    for &(i, c) in taught {
        if i < n && c < classes {
            y[i * classes + c] = 1.0;
            is_taught[i] = true;
            taught_class[i] = Some(c);
        }
    }
    let mut f = y.clone();
    let mut next = vec![0f32; n * classes];
    for _ in 0..ITERATIONS {
        next.par_chunks_mut(classes)
            .enumerate()
            .for_each(|(i, row)| {
                row.copy_from_slice(&y[i * classes..(i + 1) * classes]);
                for &j in &adj[i] {
                    let w = ALPHA * inv_sqrt_deg[i] * inv_sqrt_deg[j];
                    for (r, fj) in row.iter_mut().zip(&f[j * classes..(j + 1) * classes]) {
                        *r += w * fj;
                    }
                }
            });
        std::mem::swap(&mut f, &mut next);
    }
    let best = |i: usize| -> (usize, f32, f32) {
        let row = &f[i * classes..(i + 1) * classes];
        let (c, v) = row
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (c, &v)| if v > b.1 { (c, v) } else { b });
        (c, v, row.iter().sum())
    };
    // A typical taught video's score: the median of their best scores.
    let mut taught_scores: Vec<f32> = (0..n)
        .filter(|&i| is_taught[i])
        .map(|i| best(i).1)
        .collect();
    taught_scores.sort_by(f32::total_cmp);
    let reference = taught_scores[taught_scores.len() / 2].max(f32::MIN_POSITIVE);
    (0..n)
        .map(|i| {
            if is_taught[i] {
                return None;
            }
            let (class, score, total) = best(i);
            if score <= 0.0 {
                return None;
            }
            let confidence = score / reference;
            // Filed only next to what was taught: one of its own nearest neighbours
            // is a taught video of that class. Spreading further reaches everything
            // connected, and with one taught folder pulled the whole library in.
            let beside_taught = nb[i].iter().any(|&j| taught_class[j] == Some(class));
            let accepted = beside_taught
                && confidence >= MIN_SHARE_OF_TAUGHT
                && score >= MIN_MAJORITY * total
                && !refused.contains(&(i, class));
            Some(Spread {
                class,
                confidence,
                accepted,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(x: f32, y: f32) -> Vec<f32> {
        let n = (x * x + y * y).sqrt();
        vec![x / n, y / n]
    }

    /// The hand-computed example: two pairs of points, one taught point in each; with
    /// one neighbour per point the graph is {0–1, 2–3}, S = W, and 50 iterations from
    /// F = Y give F = [[5.2412, 0], [4.7124, 0], [0, 5.2412], [0, 4.7124]].
    #[test]
    fn spreading_matches_the_hand_computed_example() {
        // The test uses one neighbour per point: the same algorithm, written out.
        let points = [
            unit(1.0, 0.0),
            unit(0.9, 0.436),
            unit(0.0, 1.0),
            unit(0.3, 0.954),
        ];
        let nb = knn(&points, 1);
        assert_eq!(nb, vec![vec![1], vec![0], vec![3], vec![2]]);
        // F_{t+1} = 0.9 S F_t + Y on the pair {0, 1} with 0 taught:
        let (mut f0, mut f1) = (1f32, 0f32);
        for _ in 0..50 {
            (f0, f1) = (1.0 + 0.9 * f1, 0.9 * f0);
        }
        assert!((f0 - 5.2412).abs() < 1e-3 && (f1 - 4.7124).abs() < 1e-3);
        assert!(f1 / f0 >= MIN_SHARE_OF_TAUGHT);
    }

    #[test]
    fn taught_clusters_spread_to_their_neighbours_only() {
        // Two tight groups far apart, one video taught in each; a stray point far
        // from both.
        let mut points = Vec::new();
        for i in 0..8 {
            points.push(unit(1.0, 0.02 * i as f32));
        }
        for i in 0..8 {
            points.push(unit(0.02 * i as f32, 1.0));
        }
        let s = spread(&points, &[(0, 0), (8, 1)], 2, &[]);
        assert!(
            s[0].is_none() && s[8].is_none(),
            "taught points are not re-filed"
        );
        let nb = knn(&points, NEIGHBOURS);
        for (i, r) in s.iter().enumerate() {
            let Some(r) = r else { continue };
            assert_eq!(
                r.class,
                usize::from(i >= 8),
                "point {i} reached the other group"
            );
            let beside = nb[i].contains(&0) || nb[i].contains(&8);
            assert_eq!(r.accepted, beside, "point {i}: {r:?}");
        }
        assert!(s[1].as_ref().unwrap().accepted && s[9].as_ref().unwrap().accepted);
        // A rejected pair is never accepted.
        let s = spread(&points, &[(0, 0), (8, 1)], 2, &[(1, 0)]);
        assert!(!s[1].as_ref().unwrap().accepted);
        assert!(spread(&points, &[], 2, &[]).iter().all(Option::is_none));
    }
}
