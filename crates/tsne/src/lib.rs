//! 2-D "map" layout of a library: Barnes-Hut t-SNE, written for speed.
//!
//! Modules in the order the data flows: [`pca`] (centre, project to ≤ 50 dims),
//! [`knn`] (exact neighbours), [`affinity`] (perplexity calibration, symmetric P),
//! [`optimise`] (initialisation and gradient descent) with [`barnes_hut`] (the
//! repulsion).
//!
//! # Pipeline
//!
//! 1. **Flatten and centre.** The rows are copied into one flat, zero-padded
//!    `f32` matrix (row stride a multiple of 16 so the SIMD kernels never need
//!    edge cases along rows). Non-finite values become 0 and short rows are
//!    zero-padded, so odd input can never panic or poison the result.
//! 2. **PCA to at most 50 dimensions.** The covariance `XᵀX` (or the Gram
//!    matrix `XXᵀ` when there are fewer points than dimensions) is formed with a
//!    register-blocked matrix kernel (4×16 AVX2/FMA tiles, ~23 GFMA/s per
//!    core), and its top eigenvectors are found by block subspace iteration
//!    (64 vectors, 12 steps) with modified Gram-Schmidt re-orthonormalisation
//!    and a final Rayleigh-Ritz step (Jacobi on the 64×64 projected matrix).
//!    The start block comes from a fixed internal seed, so PCA is
//!    deterministic and independent of `seed`. When `d <= 50` the data is only
//!    rotated (no information is lost).
//! 3. **k nearest neighbours**, `k = 3·perplexity`, exact brute force:
//!    `|a-b|² = |a|²+|b|²-2a·b` with the dot products from the same tile
//!    kernel (reference points packed in panels of 16, queries in blocks of 64,
//!    rayon over query blocks), a vectorised distance screen and a top-k
//!    buffer compacted by linear selection.
//!
//!    PCA-50 alone loses neighbourhood detail when the data's local structure
//!    spans more than 50 directions (e.g. every category of video varying
//!    along its own directions): on the benchmark data kNN preservation fell
//!    from 0.50 to 0.39. So when PCA dropped dimensions, `2k` *candidates* are
//!    found in PCA space and re-ranked by their exact distance in the input
//!    space, and the best `k` are kept. That recovers ~97 % of the true input
//!    space neighbours and openTSNE's quality, for ~0.8 s CPU at
//!    20 000 × 1280 (the rows are visited in breadth-first order of the
//!    candidate graph so that they are mostly cache hits). Brute force at 50-d
//!    is ~1 s CPU for 20 000 points and exact; it grows as `n²`, see *Cost*.
//! 4. **Affinities.** Per point, a binary search on the Gaussian precision hits
//!    the target perplexity (entropy tolerance 1e-5, in `f64`); then
//!    `P = (P + Pᵀ) / 2n` is stored in CSR form.
//! 5. **Initialisation** (as openTSNE): the first two principal components,
//!    scaled so that the first has standard deviation 1e-4, plus a 1 % jitter
//!    drawn from `seed`. PCA initialisation makes the global layout stable and
//!    reproducible.
//! 6. **Gradient descent** as bhtsne / openTSNE: momentum 0.5 during early
//!    exaggeration then 0.8, per-coordinate gains (+0.2 / x0.8, floor 0.01),
//!    per-point step norm clipped to 5 (openTSNE's `max_step_norm`), and the
//!    embedding re-centred every iteration. The gradient uses the standard
//!    factor 4: `∂C/∂yᵢ = 4 (α Σⱼ pᵢⱼ qᵢⱼ Z (yᵢ-yⱼ) − Σⱼ qᵢⱼ² Z (yᵢ-yⱼ) / Z)`.
//!    The automatic learning rate is openTSNE's Belkina et al. rule expressed
//!    for that factor-4 gradient: `max(n / (4·α), 50)` where `α` is the
//!    exaggeration of the current phase, i.e. `max(n/early_exaggeration/4, 50)`
//!    during early exaggeration and `max(n/4, 50)` afterwards.
//!
//! # The Barnes-Hut repulsion
//!
//! Every iteration the points are sorted along a Morton (Z-order) curve and a
//! quadtree is built over the sorted array, so every node is a contiguous range
//! of points and the tree is a flat `Vec` with each node's children adjacent
//! (cache friendly, no pointers, storage reused between iterations). The sort starts
//! from the previous order, which is almost sorted, so a run-adaptive stable
//! sort makes it nearly linear.
//!
//! Instead of walking the tree once per point (bhtsne, openTSNE), the tree is
//! walked once per *group* of at most `GROUP_MAX` (128) neighbouring points
//! (a subtree; leaves hold at most `LEAF_CAP` = 8 points). A cell
//! is summarised by its centre of mass only when `width < θ · dist`, where
//! `dist` is the distance from the centre of mass to the group's bounding box;
//! this is the bhtsne/openTSNE criterion made conservative for every point of
//! the group, so the approximation is never worse than per-point Barnes-Hut
//! with the same θ. Cells that are not accepted are opened; leaves that are not
//! accepted contribute their points exactly. The resulting interaction list is
//! then applied to every point of the group with a branch-free AVX2/FMA loop
//! (8 interactions per instruction). Walking the tree once per group instead
//! of once per point removes most of the pointer chasing and turns the work
//! into dense SIMD arithmetic; the groups are processed in parallel by rayon.
//!
//! # Determinism
//!
//! Every parallel step computes each output element with a fixed sequence of
//! floating-point operations that does not depend on how rayon splits the
//! work, and every reduction across points (`Z`, the mean, PCA partial sums)
//! is done in a fixed order. The same input and seed therefore give
//! bit-identical output for any thread count on the same machine. (Machines
//! with and without AVX2/FMA differ in rounding and so in their output.)
//!
//! # Cost
//!
//! The optimisation dominates at library sizes (`bench/PROFILING.md` has the
//! breakdown). PCA is `O(n·d·min(n,d))`, each iteration `O(n log n)`, but the exact
//! neighbour search is `O(n²·50)`, which takes over beyond ~100 000 points. A frame-level map of several hundred thousand frames should
//! subsample, or this step should get an approximate index (e.g. random
//! projection trees + neighbour-of-neighbour refinement); everything else
//! scales.

use rayon::prelude::*;
use reelmap_numeric::vector::squared_distance_simd as sq_dist;

mod affinity;
mod barnes_hut;
mod knn;
mod optimise;
mod pca;
#[cfg(test)]
mod tests;

use affinity::Csr;
use knn::{knn, refine_neighbours};
use optimise::{initial_layout, optimize};
use pca::{Flat, pca_scores};

/// Options of [`tsne`]. The defaults follow openTSNE.
#[derive(Clone, Debug, PartialEq)]
pub struct TsneOptions {
    /// Effective number of neighbours (default 30). Reduced to `(n-1)/3` for
    /// small inputs.
    pub perplexity: f32,
    /// Barnes-Hut accuracy/speed trade-off (default 0.5; 0 = exact, slow).
    pub theta: f32,
    /// Total number of gradient-descent iterations, early exaggeration
    /// included (default 750 = 250 exaggerated + 500 normal, as openTSNE).
    pub iterations: usize,
    /// Attraction multiplier during the first `exaggeration_iters` (default 12).
    pub early_exaggeration: f32,
    /// Length of the early-exaggeration phase (default 250).
    pub exaggeration_iters: usize,
    /// `None` = automatic: `max(n / exaggeration / 4, 50)` per phase (see the
    /// module docs). `Some(lr)` uses `lr` throughout (factor-4 gradient
    /// convention, as bhtsne / scikit-learn: 200 is the classic value).
    pub learning_rate: Option<f32>,
    /// Seed of the initial jitter; the only random input of the algorithm.
    pub seed: u64,
    /// Worker threads; 0 = rayon's global pool.
    pub threads: usize,
}

impl Default for TsneOptions {
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            theta: 0.5,
            iterations: 750,
            early_exaggeration: 12.0,
            exaggeration_iters: 250,
            learning_rate: None,
            seed: 0,
            threads: 0,
        }
    }
}

/// Lays out `data` (n rows of the same dimension, e.g. 1280-d L2-normalised
/// CNN descriptors) in 2-D with Barnes-Hut t-SNE and returns one position per
/// row, centred on the origin, in t-SNE's natural units (a 20 000-point map
/// typically spans ±50; scale to the viewport when drawing).
///
/// `progress(i, total)` is called on the calling thread with `i = 0` once the
/// preprocessing (PCA, neighbours, affinities) is done and after every
/// iteration `i = 1..=total`.
///
/// The same input, options and seed give the same output (bit-identical, for
/// any thread count, on the same machine). Never panics on odd input: 0–3
/// points are placed on a small circle, rows of different lengths are
/// zero-padded, non-finite values are read as 0.
pub fn tsne(
    data: &[Vec<f32>],
    opts: &TsneOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<[f32; 2]> {
    let n = data.len();
    let total = opts.iterations;
    if n <= 3 {
        progress(0, total);
        progress(total, total);
        return tiny_layout(n);
    }
    let pool = Pool::new(opts.threads);
    let mut x = Flat::from_rows(data, &pool);
    let p = x.d.min(MAX_PCA_DIMS).min(n);
    let scores = pca_scores(&mut x, p, &pool);

    let perplexity = effective_perplexity(opts.perplexity, n);
    let k = ((3.0 * perplexity).floor() as usize).clamp(1, n - 1);
    let (nb_idx, nb_d2) = if p < x.d {
        // PCA lost information: search candidates in PCA space, then rank
        // them by their exact distance in the input space.
        let c = (k * CANDIDATE_FACTOR).min(n - 1);
        let (ci, _) = pool.run(|| knn(&scores, n, p, c));
        pool.run(|| refine_neighbours(&x, &ci, c, k))
    } else {
        pool.run(|| knn(&scores, n, p, k))
    };
    drop(x);
    let affinities = pool.run(|| Csr::affinities(&nb_idx, &nb_d2, n, k, perplexity));
    drop((nb_idx, nb_d2));

    let init = initial_layout(&scores, n, p, opts.seed);
    drop(scores);
    optimize(init, &affinities, opts, &pool, progress)
}

/// Fraction of each point's `k` nearest neighbours in `data` (Euclidean) that
/// are also among its `k` nearest neighbours in `embedding`, averaged over the
/// points (1.0 = every neighbourhood preserved). Exact, `O(m·n·d)` for `m`
/// evaluated points: `max_points` of them, evenly spread over the input
/// (`max_points = 0` or `>= n` evaluates every point). Ties are broken by
/// index. Returns 1.0 when there is nothing to measure (`n < 2` or `k = 0`).
pub fn knn_preservation(
    data: &[Vec<f32>],
    embedding: &[[f32; 2]],
    k: usize,
    max_points: usize,
) -> f64 {
    let n = data.len().min(embedding.len());
    if n < 2 || k == 0 {
        return 1.0;
    }
    let k = k.min(n - 1);
    let m = if max_points == 0 {
        n
    } else {
        max_points.min(n)
    };
    let d = data[..n].iter().map(|r| r.len()).max().unwrap_or(0);
    let mut flat = vec![0f32; n * d];
    for (dst, row) in flat.chunks_mut(d.max(1)).zip(data) {
        for (o, &v) in dst.iter_mut().zip(row) {
            *o = if v.is_finite() { v } else { 0.0 };
        }
    }
    let flat = &flat;
    let hits: usize = (0..m)
        .into_par_iter()
        .map(|s| {
            let i = s * n / m;
            let a = &flat[i * d..(i + 1) * d];
            let mut hi: Vec<(f32, u32)> = Vec::with_capacity(n - 1);
            let mut lo: Vec<(f32, u32)> = Vec::with_capacity(n - 1);
            for j in (0..n).filter(|&j| j != i) {
                hi.push((sq_dist(a, &flat[j * d..(j + 1) * d]), j as u32));
                let (dx, dy) = (
                    embedding[i][0] - embedding[j][0],
                    embedding[i][1] - embedding[j][1],
                );
                let e = dx * dx + dy * dy;
                lo.push((if e.is_finite() { e } else { f32::MAX }, j as u32));
            }
            let key = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            hi.select_nth_unstable_by(k - 1, key);
            lo.select_nth_unstable_by(k - 1, key);
            let mut a: Vec<u32> = hi[..k].iter().map(|e| e.1).collect();
            let mut b: Vec<u32> = lo[..k].iter().map(|e| e.1).collect();
            a.sort_unstable();
            b.sort_unstable();
            let (mut x, mut y, mut common) = (0, 0, 0);
            while x < k && y < k {
                match a[x].cmp(&b[y]) {
                    std::cmp::Ordering::Less => x += 1,
                    std::cmp::Ordering::Greater => y += 1,
                    std::cmp::Ordering::Equal => {
                        common += 1;
                        x += 1;
                        y += 1;
                    }
                }
            }
            common
        })
        .sum();
    hits as f64 / (m * k) as f64
}

// ---------------------------------------------------------------------------
// Tunables
// ---------------------------------------------------------------------------

/// PCA target dimension (the usual t-SNE preprocessing).
pub(crate) const MAX_PCA_DIMS: usize = 50;
/// Neighbour candidates searched in PCA space per neighbour kept, before
/// re-ranking by exact input-space distance.
pub(crate) const CANDIDATE_FACTOR: usize = 2;
/// Subspace-iteration steps for PCA. The leading eigenvalues of real
/// descriptors are well separated so a dozen steps converge them; the
/// trailing, nearly degenerate ones do not need to converge (any basis of
/// that noise subspace preserves distances equally well).
pub(crate) const PCA_ITERS: usize = 12;
/// Extra vectors in the subspace block (50 + 14 = 64 = four SIMD panels).
pub(crate) const PCA_OVERSAMPLE: usize = 14;
/// Quadtree leaves hold at most this many points.
pub(crate) const LEAF_CAP: usize = 8;
/// Points sharing one tree walk (and one interaction list).
pub(crate) const GROUP_MAX: usize = 128;
/// Momentum during / after early exaggeration (bhtsne).
pub(crate) const MOMENTUM_EARLY: f32 = 0.5;
pub(crate) const MOMENTUM_LATE: f32 = 0.8;
/// Per-point step clipping (openTSNE's `max_step_norm`): keeps a point that
/// received a huge gradient from shooting off and blowing up the tree.
pub(crate) const MAX_STEP_NORM: f32 = 5.0;
pub(crate) const MIN_GAIN: f32 = 0.01;

fn effective_perplexity(requested: f32, n: usize) -> f32 {
    let p = if requested.is_finite() && requested > 0.0 {
        requested
    } else {
        30.0
    };
    // Need 3·perplexity neighbours; below that the calibration is meaningless.
    p.min((n - 1) as f32 / 3.0).max(1.0)
}

/// Positions for 0–3 points, where t-SNE is meaningless: a small circle.
fn tiny_layout(n: usize) -> Vec<[f32; 2]> {
    match n {
        0 => Vec::new(),
        1 => vec![[0.0, 0.0]],
        _ => (0..n)
            .map(|i| {
                let a = std::f32::consts::TAU * i as f32 / n as f32;
                [a.cos(), a.sin()]
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Thread pool plumbing
// ---------------------------------------------------------------------------

/// Runs parallel sections in a dedicated pool when `threads > 0`. Each
/// section is installed separately so that the (non-`Send`) progress callback
/// stays on the caller's thread.
pub(crate) struct Pool(Option<rayon::ThreadPool>);

impl Pool {
    pub(crate) fn new(threads: usize) -> Pool {
        if threads == 0 {
            return Pool(None);
        }
        Pool(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .ok(),
        )
    }
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

pub(crate) fn round16(v: usize) -> usize {
    v.div_ceil(16) * 16
}
