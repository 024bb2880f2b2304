//! Choosing k: the consensus of many k-means runs, cut at every k, scored by the
//! silhouette over independent bags of runs.

use super::{kmeans, linkage};
use rayon::prelude::*;
use reelmap_numeric::dot;

/// Result of choosing k automatically.
pub struct AutoK {
    pub k: usize,
    pub scores: Vec<(usize, f64)>,
    pub method: String,
}

/// At most this many videos take part in the consensus that chooses k (a
/// deterministic, evenly spread subsample of larger libraries); the final k-means
/// uses every video.
const CONSENSUS_MAX_POINTS: usize = 1000;

/// The consensus ensemble is made of this many independent parts ("bags"), each of
/// `CONSENSUS_RUNS_PER_K` k-means runs per k. Each bag gives its own tree, and k is
/// chosen on the mean of the bags' silhouette curves; the partition comes from the
/// tree of all runs together.
///
/// Why: when the silhouette curve is flat, which k wins depends on small differences
/// between trees, that is on the seed, and more runs per k do not help (average
/// linkage flips on near-ties). Averaging the choice over independent bags, with the
/// same number of k-means runs in all, makes it far less dependent on the seed
/// without changing the scores (measurements in `bench/PROFILING.md`).
const CONSENSUS_BAGS: usize = 8;

/// k-means runs per k in each bag of the consensus ensemble (8 × 4 = 32 runs per k).
const CONSENSUS_RUNS_PER_K: usize = 4;

/// The consensus of an ensemble of k-means runs (k = 2..=max, several seeds each) on
/// an evenly spread subsample of the videos: the average-linkage tree of how often
/// two videos were put together. Cutting the tree gives a partition for any k that
/// depends far less on the seed than one k-means run; the k whose cuts have the best
/// cosine silhouette (over the trees of several bags, see [`CONSENSUS_BAGS`]) is the
/// automatic k, and the cluster means of the whole ensemble's cut start the final
/// k-means. Compared with one silhouette-scored k-means per k, the chosen k and the
/// scores hardly depend on the seed (`bench/PROFILING.md`).
pub struct Consensus {
    /// Indices of the subsample's videos in the data.
    sample: Vec<usize>,
    /// The tree of all runs together: the partition at any k.
    merges: Vec<linkage::Merge>,
    /// One tree per bag: the choice of k.
    bag_merges: Vec<Vec<linkage::Merge>>,
    /// Cosine distances between the subsample's videos, for the silhouette.
    distances: Vec<f32>,
    max_k: usize,
}

impl Consensus {
    /// None when there are too few videos for a choice (fewer than 3). Points marked
    /// in `is_copy` (see [`copies`]) take no part.
    pub fn build(data: &[Vec<f32>], is_copy: &[bool], seed: u64) -> Option<Consensus> {
        // Copies of a file count once: a file and its copy are a pair of identical
        // points with a perfect silhouette, so copies would pull k towards one cluster
        // per pair (a library holding every video twice went from k = 5 to 33). The
        // final k-means still places every video.
        let distinct: Vec<usize> = (0..data.len()).filter(|&i| !is_copy[i]).collect();
        let n_all = distinct.len();
        let step = n_all.div_ceil(CONSENSUS_MAX_POINTS).max(1);
        let sample: Vec<usize> = distinct.into_iter().step_by(step).collect();
        let n = sample.len();
        let max_k = (n_all / 3).clamp(10, 50).min(n.saturating_sub(1));
        if n < 3 || max_k < 2 {
            return None;
        }
        // Dot products of the upper triangle only (the ~2 800-dimensional dots are the
        // dearest part of the consensus for large libraries), mirrored below.
        let upper: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|i| {
                (i..n)
                    .map(|j| dot(&data[sample[i]], &data[sample[j]]))
                    .collect()
            })
            .collect();
        let mut gram = vec![0f32; n * n];
        for (i, row) in upper.iter().enumerate() {
            for (off, &g) in row.iter().enumerate() {
                gram[i * n + i + off] = g;
                gram[(i + off) * n + i] = g;
            }
        }
        let ks: Vec<usize> = (2..=max_k).collect();
        let mut together = vec![0f32; n * n];
        let bag_merges: Vec<Vec<linkage::Merge>> = (0..CONSENSUS_BAGS as u64)
            .map(|bag| {
                let bag_seed = seed.wrapping_mul(CONSENSUS_BAGS as u64).wrapping_add(bag);
                let bag_together =
                    kmeans::co_association(&gram, n, &ks, CONSENSUS_RUNS_PER_K, bag_seed);
                together
                    .iter_mut()
                    .zip(&bag_together)
                    .for_each(|(t, b)| *t += b / CONSENSUS_BAGS as f32);
                linkage::average_linkage(&apart_of(&bag_together), n)
            })
            .collect();
        let merges = linkage::average_linkage(&apart_of(&together), n);
        // Points are unit vectors: cosine distance is 1 - dot.
        let distances: Vec<f32> = gram.iter().map(|g| 1.0 - g).collect();
        Some(Consensus {
            sample,
            merges,
            bag_merges,
            distances,
            max_k,
        })
    }

    /// Labels of the subsample's videos when the tree is cut into k clusters.
    pub fn labels(&self, k: usize) -> Vec<usize> {
        linkage::cut_tree(&self.merges, self.sample.len(), k)
    }

    /// The k in 2..=max whose cuts of the bags' trees have the best mean silhouette
    /// (the smaller k on a tie), and that mean for every k.
    pub fn choose_k(&self) -> AutoK {
        let n = self.sample.len();
        let bags = self.bag_merges.len() as f64;
        let scores: Vec<(usize, f64)> = (2..=self.max_k)
            .map(|k| {
                let total: f64 = self
                    .bag_merges
                    .iter()
                    .map(|merges| {
                        let labels = linkage::cut_tree(merges, n, k);
                        linkage::silhouette_from_distances(&self.distances, &labels, k)
                    })
                    .sum();
                (k, total / bags)
            })
            .collect();
        let best = scores
            .iter()
            .cloned()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("max_k >= 2");
        AutoK {
            k: best.0,
            scores,
            method: "consensus silhouette".into(),
        }
    }

    /// Means (in the data's own space) of the k clusters of the cut.
    pub fn centres(&self, data: &[Vec<f32>], k: usize) -> Vec<Vec<f32>> {
        let labels = self.labels(k);
        let k = labels.iter().max().map_or(0, |m| m + 1);
        let dims = data[0].len();
        let mut sums = vec![vec![0f64; dims]; k];
        let mut counts = vec![0usize; k];
        for (&i, &l) in self.sample.iter().zip(&labels) {
            counts[l] += 1;
            sums[l]
                .iter_mut()
                .zip(&data[i])
                .for_each(|(s, &x)| *s += x as f64);
        }
        sums.into_iter()
            .zip(counts)
            .map(|(s, c)| s.into_iter().map(|x| (x / c as f64) as f32).collect())
            .collect()
    }
}

/// Distances from co-association: how often two videos were apart.
fn apart_of(together: &[f32]) -> Vec<f32> {
    together.iter().map(|c| 1.0 - c).collect()
}

/// The automatic k from a consensus (k = 1 when there were too few videos for one).
pub(crate) fn auto_k(consensus: Option<&Consensus>) -> AutoK {
    consensus.map_or_else(
        || AutoK {
            k: 1,
            scores: vec![],
            method: "too few videos".into(),
        },
        Consensus::choose_k,
    )
}
