//! 2-D "map" layout of a library: Barnes-Hut t-SNE, written for speed.
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
//! Measured on the 2-core AMD EPYC (Zen 4) dev machine, 20 000 × 1280-d,
//! 750 iterations, in CPU seconds: PCA ~0.9, kNN ~1.0 + re-ranking ~0.8,
//! affinities and the rest ~0.4, optimisation ~5.3 (~7 ms CPU per iteration: repulsion with
//! ~450 interactions per point ~4.5 ms, attraction over the ~130 non-zeros
//! per row ~2 ms). Wall time on an idle machine is about half the CPU time.
//!
//! PCA is `O(n·d·min(n,d))`, each iteration `O(n log n)`, but the exact
//! neighbour search is `O(n²·50)`: ~25 s CPU at 100 000 points, ~100 s at
//! 200 000. A frame-level map of several hundred thousand frames should
//! subsample, or this step should get an approximate index (e.g. random
//! projection trees + neighbour-of-neighbour refinement); everything else
//! scales.

use rayon::prelude::*;

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
const MAX_PCA_DIMS: usize = 50;
/// Neighbour candidates searched in PCA space per neighbour kept, before
/// re-ranking by exact input-space distance.
const CANDIDATE_FACTOR: usize = 2;
/// Subspace-iteration steps for PCA. The leading eigenvalues of real
/// descriptors are well separated so a dozen steps converge them; the
/// trailing, nearly degenerate ones do not need to converge (any basis of
/// that noise subspace preserves distances equally well).
const PCA_ITERS: usize = 12;
/// Extra vectors in the subspace block (50 + 14 = 64 = four SIMD panels).
const PCA_OVERSAMPLE: usize = 14;
/// Quadtree leaves hold at most this many points.
const LEAF_CAP: usize = 8;
/// Points sharing one tree walk (and one interaction list).
const GROUP_MAX: usize = 128;
/// Momentum during / after early exaggeration (bhtsne).
const MOMENTUM_EARLY: f32 = 0.5;
const MOMENTUM_LATE: f32 = 0.8;
/// Per-point step clipping (openTSNE's `max_step_norm`): keeps a point that
/// received a huge gradient from shooting off and blowing up the tree.
const MAX_STEP_NORM: f32 = 5.0;
const MIN_GAIN: f32 = 0.01;

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
struct Pool(Option<rayon::ThreadPool>);

impl Pool {
    fn new(threads: usize) -> Pool {
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
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

fn round16(v: usize) -> usize {
    v.div_ceil(16) * 16
}

// ---------------------------------------------------------------------------
// Input matrix and PCA
// ---------------------------------------------------------------------------

/// Row-major `n × ld` matrix, `ld` = dimension rounded up to 16, zero padded.
struct Flat {
    v: Vec<f32>,
    n: usize,
    d: usize,
    ld: usize,
}

impl Flat {
    /// Copies, sanitises and centres the rows.
    fn from_rows(rows: &[Vec<f32>], pool: &Pool) -> Flat {
        let n = rows.len();
        let d = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let ld = round16(d.max(1));
        let mut v = vec![0f32; n * ld];
        pool.run(|| {
            v.par_chunks_mut(ld).zip(rows).for_each(|(dst, row)| {
                for (o, &x) in dst.iter_mut().zip(row) {
                    *o = if x.is_finite() { x } else { 0.0 };
                }
            })
        });
        // Column means: partial sums over fixed blocks of rows, combined in
        // order, so the result does not depend on the thread count.
        const BLOCK: usize = 512;
        let partial: Vec<Vec<f64>> = pool.run(|| {
            v.par_chunks(BLOCK * ld)
                .map(|blk| {
                    let mut s = vec![0f64; ld];
                    for row in blk.chunks_exact(ld) {
                        for (a, &b) in s.iter_mut().zip(row) {
                            *a += b as f64;
                        }
                    }
                    s
                })
                .collect()
        });
        let mut mean = vec![0f64; ld];
        for s in &partial {
            for (m, &x) in mean.iter_mut().zip(s) {
                *m += x;
            }
        }
        let mean: Vec<f32> = mean.iter().map(|&m| (m / n as f64) as f32).collect();
        pool.run(|| {
            v.par_chunks_mut(ld).for_each(|row| {
                for (x, &m) in row.iter_mut().zip(&mean) {
                    *x -= m;
                }
            })
        });
        Flat { v, n, d, ld }
    }
}

/// Projects the centred data on its top `p` principal axes: returns the
/// `n × p` scores (row-major), columns in decreasing order of variance.
fn pca_scores(x: &mut Flat, p: usize, pool: &Pool) -> Vec<f32> {
    let (n, ld) = (x.n, x.ld);
    if p == 0 {
        return Vec::new();
    }
    if n >= x.d {
        // Covariance (unscaled) C = XᵀX, ld × ld. Only the upper block
        // triangle is computed, then mirrored.
        let mut c = vec![0f32; ld * ld];
        pool.run(|| {
            gemm(
                Lhs {
                    a: &x.v,
                    rs: 1,
                    ks: ld,
                },
                ld,
                Rhs {
                    b: &x.v,
                    ks: ld,
                    panels: ld / 16,
                },
                n,
                &mut c,
                ld,
                true,
            )
        });
        for i in 0..ld {
            for j in 0..i {
                c[i * ld + j] = c[j * ld + i];
            }
        }
        let (vecs, _) = top_eigen(&c, x.d, ld, p, pool);
        // Scores = X V, V stored k-major (x.d × pq, padded columns are zero).
        let pq = round16(p);
        let mut v = vec![0f32; ld * pq];
        for a in 0..x.d {
            for j in 0..p {
                v[a * pq + j] = vecs[j * x.d + a] as f32;
            }
        }
        let mut s = vec![0f32; n * pq];
        pool.run(|| {
            gemm(
                Lhs {
                    a: &x.v,
                    rs: ld,
                    ks: 1,
                },
                n,
                Rhs {
                    b: &v,
                    ks: pq,
                    panels: pq / 16,
                },
                ld,
                &mut s,
                pq,
                false,
            )
        });
        let mut out = vec![0f32; n * p];
        for i in 0..n {
            out[i * p..(i + 1) * p].copy_from_slice(&s[i * pq..i * pq + p]);
        }
        out
    } else {
        // Fewer points than dimensions: Gram matrix G = XXᵀ (n × n), whose
        // eigenvectors scaled by √λ are the scores.
        let lg = round16(n);
        let mut xt = vec![0f32; ld * lg];
        for i in 0..n {
            for a in 0..x.d {
                xt[a * lg + i] = x.v[i * ld + a];
            }
        }
        let mut g = vec![0f32; lg * lg];
        pool.run(|| {
            gemm(
                Lhs {
                    a: &x.v,
                    rs: ld,
                    ks: 1,
                },
                n,
                Rhs {
                    b: &xt,
                    ks: lg,
                    panels: lg / 16,
                },
                ld,
                &mut g,
                lg,
                false,
            )
        });
        let (vecs, vals) = top_eigen(&g, n, lg, p, pool);
        let mut out = vec![0f32; n * p];
        for j in 0..p {
            let s = vals[j].max(0.0).sqrt();
            for i in 0..n {
                out[i * p + j] = (vecs[j * n + i] * s) as f32;
            }
        }
        out
    }
}

/// Top `p` eigenpairs of the symmetric `m × m` matrix `s` (row stride `ls`).
/// Returns eigenvectors (column-major: vector j at `[j*m..(j+1)*m]`) and
/// eigenvalues, in decreasing order.
fn top_eigen(s: &[f32], m: usize, ls: usize, p: usize, pool: &Pool) -> (Vec<f64>, Vec<f64>) {
    let b = (p + PCA_OVERSAMPLE).min(m);
    if b >= m {
        // Small matrix: diagonalise directly.
        let mut a = vec![0f64; m * m];
        for i in 0..m {
            for j in 0..m {
                a[i * m + j] = s[i * ls + j] as f64;
            }
        }
        let (vals, w) = jacobi_eigen(&mut a, m);
        return select_eigen(&vals, &w, m, m, p, |j, i| w[i * m + j]);
    }
    let bq = round16(b);
    // Random start (fixed seed: PCA must not depend on the user's seed).
    let mut rng = SplitMix64(0x005E_ED0F_7A9E);
    let mut q: Vec<f64> = (0..b * m).map(|_| rng.normal()).collect();
    orthonormalize(&mut q, m, b);
    let mut qf = vec![0f32; ls * bq];
    let mut z = vec![0f32; m * bq];
    let multiply = |q: &[f64], qf: &mut Vec<f32>, z: &mut Vec<f32>| {
        for j in 0..b {
            for i in 0..m {
                qf[i * bq + j] = q[j * m + i] as f32;
            }
        }
        pool.run(|| {
            gemm(
                Lhs {
                    a: s,
                    rs: ls,
                    ks: 1,
                },
                m,
                Rhs {
                    b: qf,
                    ks: bq,
                    panels: bq / 16,
                },
                m,
                z,
                bq,
                false,
            )
        });
    };
    for _ in 0..PCA_ITERS {
        multiply(&q, &mut qf, &mut z);
        for j in 0..b {
            for i in 0..m {
                q[j * m + i] = z[i * bq + j] as f64;
            }
        }
        orthonormalize(&mut q, m, b);
    }
    // Rayleigh-Ritz: H = Qᵀ S Q, diagonalised; Ritz vectors = Q W.
    multiply(&q, &mut qf, &mut z);
    let mut h = vec![0f64; b * b];
    for i in 0..b {
        for j in 0..b {
            let mut acc = 0f64;
            for a in 0..m {
                acc += q[i * m + a] * z[a * bq + j] as f64;
            }
            h[i * b + j] = acc;
        }
    }
    for i in 0..b {
        for j in 0..i {
            let v = 0.5 * (h[i * b + j] + h[j * b + i]);
            h[i * b + j] = v;
            h[j * b + i] = v;
        }
    }
    let (vals, w) = jacobi_eigen(&mut h, b);
    select_eigen(&vals, &w, b, m, p, |j, i| {
        // Component i of Ritz vector j = Σ_t Q[:,t]_i W[t][j].
        let mut acc = 0f64;
        for t in 0..b {
            acc += q[t * m + i] * w[t * b + j];
        }
        acc
    })
}

/// Picks the `p` largest of `vals` (len `b`) and builds their vectors of
/// length `m` with `comp(j, i)`.
fn select_eigen(
    vals: &[f64],
    _w: &[f64],
    b: usize,
    m: usize,
    p: usize,
    comp: impl Fn(usize, usize) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&x, &y| vals[y].total_cmp(&vals[x]).then(x.cmp(&y)));
    let mut vecs = vec![0f64; p * m];
    let mut out_vals = vec![0f64; p];
    for (slot, &j) in order.iter().take(p).enumerate() {
        out_vals[slot] = vals[j];
        for i in 0..m {
            vecs[slot * m + i] = comp(j, i);
        }
    }
    (vecs, out_vals)
}

/// Modified Gram-Schmidt, applied twice ("twice is enough"), on `b` vectors
/// of length `m` stored contiguously. Vectors that vanish (rank deficiency)
/// are set to zero rather than amplifying round-off.
fn orthonormalize(q: &mut [f64], m: usize, b: usize) {
    let mut norm0 = vec![0f64; b];
    for j in 0..b {
        norm0[j] = q[j * m..(j + 1) * m]
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt();
    }
    let scale = norm0.iter().cloned().fold(0f64, f64::max);
    for _pass in 0..2 {
        for j in 0..b {
            let (done, rest) = q.split_at_mut(j * m);
            let v = &mut rest[..m];
            for t in 0..j {
                let u = &done[t * m..(t + 1) * m];
                let dot: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
                for (x, &y) in v.iter_mut().zip(u) {
                    *x -= dot * y;
                }
            }
            let nrm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if nrm > 1e-9 * scale && nrm > 0.0 {
                for x in v.iter_mut() {
                    *x /= nrm;
                }
            } else {
                v.iter_mut().for_each(|x| *x = 0.0);
            }
        }
    }
}

/// Cyclic Jacobi eigenvalue algorithm for a small symmetric matrix (row-major
/// `m × m`, destroyed). Returns eigenvalues and eigenvectors (column `j` of the
/// row-major `m × m` result is the vector of eigenvalue `j`).
fn jacobi_eigen(a: &mut [f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    for _sweep in 0..64 {
        let mut off = 0f64;
        let mut diag = 0f64;
        for i in 0..m {
            diag += a[i * m + i] * a[i * m + i];
            for j in i + 1..m {
                off += a[i * m + j] * a[i * m + j];
            }
        }
        if off <= 1e-24 * diag || off == 0.0 {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let akp = a[k * m + p];
                    let akq = a[k * m + q];
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let apk = a[p * m + k];
                    let aqk = a[q * m + k];
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for k in 0..m {
                    let vkp = v[k * m + p];
                    let vkq = v[k * m + q];
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..m).map(|i| a[i * m + i]).collect(), v)
}

// ---------------------------------------------------------------------------
// Matrix kernel
// ---------------------------------------------------------------------------

/// Left operand: element `(i, k)` at `a[i*rs + k*ks]`.
#[derive(Clone, Copy)]
struct Lhs<'a> {
    a: &'a [f32],
    rs: usize,
    ks: usize,
}

/// Right operand: element `(k, j)` at `b[k*ks + j]`, `panels*16` columns.
#[derive(Clone, Copy)]
struct Rhs<'a> {
    b: &'a [f32],
    ks: usize,
    panels: usize,
}

/// `out[i*ldo + j] = Σ_{k<kdim} A(i,k)·B(k,j)` for `i < m`, `j < 16·panels`.
/// With `upper`, only column panels at or right of the row block's diagonal
/// are computed (for symmetric products). Blocked over `k` so that a slab of
/// both operands stays in L2; rayon over blocks of 16 output rows.
fn gemm(a: Lhs, m: usize, b: Rhs, kdim: usize, out: &mut [f32], ldo: usize, upper: bool) {
    const KC: usize = 256;
    const MB: usize = 16;
    out.iter_mut().for_each(|v| *v = 0.0);
    if kdim == 0 || m == 0 {
        return;
    }
    let kern = tile_kernel();
    let mut k0 = 0;
    while k0 < kdim {
        let kc = KC.min(kdim - k0);
        out[..m * ldo]
            .par_chunks_mut(MB * ldo)
            .enumerate()
            .for_each(|(blk, oc)| {
                let i0 = blk * MB;
                let rows = MB.min(m - i0);
                let p0 = if upper { i0 / 16 } else { 0 };
                let mut r0 = 0;
                while r0 < rows {
                    let rr = 4.min(rows - r0);
                    for jp in p0..b.panels {
                        let t = kern(
                            rr,
                            a.a,
                            (i0 + r0) * a.rs + k0 * a.ks,
                            a.rs,
                            a.ks,
                            b.b,
                            k0 * b.ks + jp * 16,
                            b.ks,
                            kc,
                        );
                        for r in 0..rr {
                            let o =
                                &mut oc[(r0 + r) * ldo + jp * 16..(r0 + r) * ldo + jp * 16 + 16];
                            for (x, &y) in o.iter_mut().zip(&t[r]) {
                                *x += y;
                            }
                        }
                    }
                    r0 += 4;
                }
            });
        k0 += kc;
    }
}

/// `tile(rows, a, a_off, ars, aks, b, b_off, bks, kc)` returns the
/// `rows × 16` block `Σ_{k<kc} a[a_off + r*ars + k*aks] · b[b_off + k*bks + j]`
/// (rows beyond `rows` are zero). `rows` is 1..=4.
type TileFn = fn(usize, &[f32], usize, usize, usize, &[f32], usize, usize, usize) -> [[f32; 16]; 4];

fn tile_kernel() -> TileFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_avx2_dispatch;
        }
    }
    tile_generic_dispatch
}

#[allow(clippy::too_many_arguments)]
fn tile_bounds_ok(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> bool {
    kc == 0
        || (ao + (rows - 1) * ars + (kc - 1) * aks < a.len() && bo + (kc - 1) * bks + 16 <= b.len())
}

#[allow(clippy::too_many_arguments)]
fn tile_generic_dispatch(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    match rows {
        4 => tile_generic::<4>(a, ao, ars, aks, b, bo, bks, kc),
        3 => tile_generic::<3>(a, ao, ars, aks, b, bo, bks, kc),
        2 => tile_generic::<2>(a, ao, ars, aks, b, bo, bks, kc),
        _ => tile_generic::<1>(a, ao, ars, aks, b, bo, bks, kc),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile_generic<const R: usize>(
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    let mut acc = [[0f32; 16]; 4];
    for k in 0..kc {
        let bv: &[f32; 16] = b[bo + k * bks..bo + k * bks + 16].try_into().unwrap();
        for r in 0..R {
            let av = a[ao + r * ars + k * aks];
            for j in 0..16 {
                acc[r][j] += av * bv[j];
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn tile_avx2_dispatch(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    assert!(tile_bounds_ok(rows.max(1), a, ao, ars, aks, b, bo, bks, kc));
    // SAFETY: only selected by `tile_kernel` after detecting AVX2 and FMA;
    // every index the kernel reads was bounds-checked just above.
    unsafe {
        match rows {
            4 => tile_avx2::<4>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            3 => tile_avx2::<3>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            2 => tile_avx2::<2>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            _ => tile_avx2::<1>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
        }
    }
}

/// 4×16 register tile: 8 ymm accumulators, per `k` one broadcast per row and
/// two loads of `B`, 2·R FMAs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const R: usize>(
    a: *const f32,
    ars: usize,
    aks: usize,
    b: *const f32,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    use std::arch::x86_64::*;
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: the caller checked that all reads are in bounds.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for r in 0..R {
                let av = _mm256_set1_ps(*ap.add(r * ars));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
        }
        ap = ap.wrapping_add(aks);
        bp = bp.wrapping_add(bks);
    }
    let mut out = [[0f32; 16]; 4];
    for r in 0..R {
        // SAFETY: out[r] has 16 elements.
        unsafe {
            _mm256_storeu_ps(out[r].as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(out[r].as_mut_ptr().add(8), hi[r]);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Exact k nearest neighbours
// ---------------------------------------------------------------------------

/// Exact kNN of the `n × p` row-major points (self excluded). Returns the
/// neighbour indices and their squared distances, `n × k` each, ascending
/// (ties broken by index).
fn knn(x: &[f32], n: usize, p: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    const QB: usize = 64;
    let norms: Vec<f32> = (0..n)
        .map(|i| x[i * p..(i + 1) * p].iter().map(|v| v * v).sum())
        .collect();
    // References packed in panels of 16 (k-major inside a panel), zero padded.
    let panels = n.div_ceil(16);
    let mut packed = vec![0f32; panels * p.max(1) * 16];
    for i in 0..n {
        let (pi, lane) = (i / 16, i % 16);
        for c in 0..p {
            packed[pi * p * 16 + c * 16 + lane] = x[i * p + c];
        }
    }
    let mut rnorm = vec![f32::INFINITY; panels * 16];
    rnorm[..n].copy_from_slice(&norms);
    let refs = KnnRefs {
        x,
        n,
        p,
        norms: &norms,
        packed: &packed,
        rnorm: &rnorm,
        panels,
    };
    let mut idx = vec![0u32; n * k];
    let mut dist = vec![0f32; n * k];
    idx.par_chunks_mut(QB * k)
        .zip(dist.par_chunks_mut(QB * k))
        .enumerate()
        .for_each(|(blk, (idx_out, dist_out))| {
            let q0 = blk * QB;
            let nq = QB.min(n - q0);
            let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
            knn_scan(&refs, q0, &mut tops);
            for (r, h) in tops.into_iter().enumerate() {
                let q = q0 + r;
                let xq = &x[q * p..(q + 1) * p];
                // Recompute the kept distances directly (no cancellation).
                let mut e: Vec<(f32, u32)> = h
                    .into_sorted()
                    .iter()
                    .map(|&(_, j)| (sq_dist(xq, &x[j as usize * p..(j as usize + 1) * p]), j))
                    .collect();
                e.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (t, (d, j)) in e.into_iter().enumerate() {
                    idx_out[r * k + t] = j;
                    dist_out[r * k + t] = d;
                }
            }
        });
    (idx, dist)
}

/// Operands of the brute-force kNN scan.
struct KnnRefs<'a> {
    /// Query points, `n × p` row-major.
    x: &'a [f32],
    n: usize,
    p: usize,
    norms: &'a [f32],
    /// Reference points in panels of 16 (`p × 16` each, k-major), zero padded.
    packed: &'a [f32],
    /// Squared norms per panel lane (`+∞` for padding lanes).
    rnorm: &'a [f32],
    panels: usize,
}

/// Offers every reference point to the tops of queries `q0..q0+tops.len()`.
fn knn_scan(refs: &KnnRefs, q0: usize, tops: &mut [TopK]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: features detected.
            unsafe { knn_scan_avx2(refs, q0, tops) };
            return;
        }
    }
    knn_scan_impl(refs, q0, tops, |rr, ao, bo| {
        tile_generic_dispatch(rr, refs.x, ao, refs.p, 1, refs.packed, bo, 16, refs.p)
    });
}

/// The scan compiled for AVX2/FMA: the tile kernel is inlined and the
/// distance screen below is vectorised too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn knn_scan_avx2(refs: &KnnRefs, q0: usize, tops: &mut [TopK]) {
    knn_scan_impl(refs, q0, tops, |rr, ao, bo| {
        let p = refs.p;
        assert!(tile_bounds_ok(rr, refs.x, ao, p, 1, refs.packed, bo, 16, p));
        let (a, b) = (refs.x.as_ptr(), refs.packed.as_ptr());
        // SAFETY: AVX2/FMA enabled for this function; reads bounds-checked.
        unsafe {
            match rr {
                4 => tile_avx2::<4>(a.add(ao), p, 1, b.add(bo), 16, p),
                3 => tile_avx2::<3>(a.add(ao), p, 1, b.add(bo), 16, p),
                2 => tile_avx2::<2>(a.add(ao), p, 1, b.add(bo), 16, p),
                _ => tile_avx2::<1>(a.add(ao), p, 1, b.add(bo), 16, p),
            }
        }
    })
}

/// `tile(rows, a_off, b_off)` computes the dot products of up to 4 queries
/// with one panel of 16 references.
#[inline(always)]
fn knn_scan_impl(
    refs: &KnnRefs,
    q0: usize,
    tops: &mut [TopK],
    tile: impl Fn(usize, usize, usize) -> [[f32; 16]; 4],
) {
    let (n, p) = (refs.n, refs.p);
    let nq = tops.len();
    for pi in 0..refs.panels {
        let rn: &[f32; 16] = refs.rnorm[pi * 16..pi * 16 + 16].try_into().unwrap();
        let mut r0 = 0;
        while r0 < nq {
            let rr = 4.min(nq - r0);
            let t = if p == 0 {
                [[0f32; 16]; 4]
            } else {
                tile(rr, (q0 + r0) * p, pi * p * 16)
            };
            for r in 0..rr {
                let q = q0 + r0 + r;
                let h = &mut tops[r0 + r];
                let thr = h.threshold();
                let qn = refs.norms[q];
                // Branch-free screen first: almost every candidate is
                // rejected once the tops are warm.
                let mut d = [0f32; 16];
                let mut mask = 0u32;
                for j in 0..16 {
                    d[j] = qn + rn[j] - 2.0 * t[r][j];
                    mask |= ((d[j] <= thr) as u32) << j;
                }
                while mask != 0 {
                    let j = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let c = pi * 16 + j;
                    if c >= n || c == q {
                        continue;
                    }
                    h.offer(d[j].max(0.0), c as u32);
                }
            }
            r0 += 4;
        }
    }
}

/// Re-ranks each point's `c` candidates (`n × c`, nearest first) by exact
/// squared distance in the (centred) input space and keeps the `k` nearest,
/// ascending.
///
/// This is memory-bound (each candidate is a full input row), so the points
/// are processed in breadth-first order of the candidate graph: consecutive
/// queries then share most candidates, which stay in cache. The order only
/// affects speed, not the result.
fn refine_neighbours(x: &Flat, cand: &[u32], c: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let (n, ld) = (x.n, x.ld);
    let order = bfs_order(cand, n, c, k.min(c));
    const CH: usize = 32;
    let per_chunk: Vec<Vec<(u32, f32)>> = order
        .par_chunks(CH)
        .map_init(Vec::new, |e: &mut Vec<(f32, u32)>, qs| {
            let mut res = Vec::with_capacity(qs.len() * k);
            for &q in qs {
                let i = q as usize;
                let xi = &x.v[i * ld..(i + 1) * ld];
                e.clear();
                e.extend(
                    cand[i * c..(i + 1) * c]
                        .iter()
                        .map(|&j| (sq_dist(xi, &x.v[j as usize * ld..(j as usize + 1) * ld]), j)),
                );
                let key = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if k < c {
                    e.select_nth_unstable_by(k - 1, key);
                }
                e[..k].sort_by(key);
                res.extend(e[..k].iter().map(|&(d, j)| (j, d)));
            }
            res
        })
        .collect();
    let mut idx = vec![0u32; n * k];
    let mut dist = vec![0f32; n * k];
    for (qs, res) in order.chunks(CH).zip(&per_chunk) {
        for (t, &q) in qs.iter().enumerate() {
            for (u, &(j, d)) in res[t * k..(t + 1) * k].iter().enumerate() {
                idx[q as usize * k + u] = j;
                dist[q as usize * k + u] = d;
            }
        }
    }
    (idx, dist)
}

/// Breadth-first order of the graph whose edges are each point's first `w`
/// candidates (restarting from the lowest unvisited point).
fn bfs_order(cand: &[u32], n: usize, c: usize, w: usize) -> Vec<u32> {
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut head = 0;
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        order.push(s as u32);
        while head < order.len() {
            let i = order[head] as usize;
            head += 1;
            for &j in &cand[i * c..i * c + w] {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    order.push(j);
                }
            }
        }
    }
    order
}

/// The `cap` smallest `(distance, index)` pairs offered, ordered
/// lexicographically so the kept set is unique (deterministic) even with ties.
/// Candidates are appended to a buffer of `2·cap`; when it fills, a linear
/// selection keeps the best `cap` and tightens the threshold. That is
/// amortised O(1) per candidate, much cheaper than a binary heap.
struct TopK {
    items: Vec<(f32, u32)>,
    cap: usize,
    thr: f32,
}

impl TopK {
    fn new(cap: usize) -> TopK {
        TopK {
            items: Vec::with_capacity(2 * cap),
            cap,
            thr: f32::INFINITY,
        }
    }
    /// Candidates with a larger distance can be skipped.
    #[inline]
    fn threshold(&self) -> f32 {
        self.thr
    }
    fn key(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
    }
    #[inline]
    fn offer(&mut self, d: f32, j: u32) {
        if d <= self.thr {
            self.items.push((d, j));
            if self.items.len() >= 2 * self.cap {
                self.compact();
            }
        }
    }
    fn compact(&mut self) {
        if self.items.len() > self.cap {
            self.items.select_nth_unstable_by(self.cap - 1, Self::key);
            self.items.truncate(self.cap);
            self.thr = self.items[self.cap - 1].0;
        }
    }
    /// The kept pairs, nearest first.
    fn into_sorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        self.items.sort_by(Self::key);
        self.items
    }
}

/// Squared Euclidean distance (AVX2/FMA when available).
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: features detected; the kernel reads a[..len], b[..len].
            return unsafe { sq_dist_avx2(&a[..len], &b[..len]) };
        }
    }
    sq_dist_generic(&a[..len], &b[..len])
}

fn sq_dist_generic(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut s = hsum8(&acc);
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Four independent accumulators hide the FMA latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sq_dist_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let len = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all blocks): every load reads 8 floats below `len`.
    while i + 32 <= len {
        for (t, acc) in acc.iter_mut().enumerate() {
            unsafe {
                let d = _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * t)),
                    _mm256_loadu_ps(pb.add(i + 8 * t)),
                );
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
        }
        i += 32;
    }
    while i + 8 <= len {
        unsafe {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        }
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut l = [0f32; 8];
    // SAFETY: l has 8 elements.
    unsafe { _mm256_storeu_ps(l.as_mut_ptr(), v) };
    let mut s = hsum8(&l);
    while i < len {
        let d = a[i] - b[i];
        s += d * d;
        i += 1;
    }
    s
}

// ---------------------------------------------------------------------------
// Affinities
// ---------------------------------------------------------------------------

/// Symmetric joint probabilities `P` in CSR form (`u32` columns, `f32`).
struct Csr {
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f32>,
}

impl Csr {
    fn affinities(idx: &[u32], d2: &[f32], n: usize, k: usize, perplexity: f32) -> Csr {
        // Conditional p_{j|i}, one row per point.
        let mut cond = vec![0f32; n * k];
        cond.par_chunks_mut(k)
            .zip(d2.par_chunks(k))
            .for_each(|(out, d)| calibrate_row(d, perplexity as f64, out));
        // Symmetrise: row i holds its own neighbours plus the points that
        // have i as a neighbour; duplicates are merged after sorting.
        let mut count = vec![k; n];
        for &j in idx {
            count[j as usize] += 1;
        }
        let mut start = vec![0usize; n + 1];
        for i in 0..n {
            start[i + 1] = start[i] + count[i];
        }
        let mut fill: Vec<usize> = start[..n].to_vec();
        let mut ent = vec![(0u32, 0f32); start[n]];
        for i in 0..n {
            for t in 0..k {
                let (j, p) = (idx[i * k + t] as usize, cond[i * k + t]);
                ent[fill[i]] = (j as u32, p);
                fill[i] += 1;
                ent[fill[j]] = (i as u32, p);
                fill[j] += 1;
            }
        }
        let norm = 1.0 / (2.0 * n as f64);
        // Sort and merge each row independently.
        let mut rows: Vec<&mut [(u32, f32)]> = Vec::with_capacity(n);
        let mut rest = &mut ent[..];
        for &len in &count {
            let (a, b) = rest.split_at_mut(len);
            rows.push(a);
            rest = b;
        }
        let lens: Vec<usize> = rows
            .par_iter_mut()
            .map(|row| {
                row.sort_by_key(|e| e.0);
                let mut w = 0;
                for r in 0..row.len() {
                    if w > 0 && row[w - 1].0 == row[r].0 {
                        row[w - 1].1 += row[r].1;
                    } else {
                        row[w] = row[r];
                        w += 1;
                    }
                }
                for e in row[..w].iter_mut() {
                    e.1 = (e.1 as f64 * norm) as f32;
                }
                w
            })
            .collect();
        let mut s = vec![0usize; n + 1];
        for i in 0..n {
            s[i + 1] = s[i] + lens[i];
        }
        let mut col = Vec::with_capacity(s[n]);
        let mut val = Vec::with_capacity(s[n]);
        for (i, row) in rows.iter().enumerate() {
            for &(c, v) in &row[..lens[i]] {
                col.push(c);
                val.push(v);
            }
        }
        // The gathering attraction kernel relies on this.
        assert!(col.iter().all(|&c| (c as usize) < n));
        Csr { start: s, col, val }
    }
}

/// Gaussian conditional probabilities over one point's neighbours with the
/// precision chosen by bisection so that the entropy equals ln(perplexity).
fn calibrate_row(d2: &[f32], perplexity: f64, out: &mut [f32]) {
    let target = perplexity.ln();
    // Shift by the nearest distance: identical after normalisation and avoids
    // underflow for far-away points.
    let dmin = d2.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
    let dd: Vec<f64> = d2.iter().map(|&d| d as f64 - dmin).collect();
    let mean = dd.iter().sum::<f64>() / dd.len() as f64;
    let mut beta = if mean > 0.0 { 1.0 / mean } else { 1.0 };
    let (mut lo, mut hi) = (0f64, f64::INFINITY);
    let mut w = vec![0f64; dd.len()];
    for _ in 0..200 {
        let mut sum = 0f64;
        let mut sdw = 0f64;
        for (wi, &d) in w.iter_mut().zip(&dd) {
            *wi = (-beta * d).exp();
            sum += *wi;
            sdw += *wi * d;
        }
        let h = sum.ln() + beta * sdw / sum;
        if (h - target).abs() < 1e-5 {
            break;
        }
        if h > target {
            lo = beta;
            beta = if hi.is_finite() {
                0.5 * (beta + hi)
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = 0.5 * (beta + lo);
        }
    }
    let sum: f64 = w.iter().sum();
    for (o, &wi) in out.iter_mut().zip(&w) {
        *o = (wi / sum) as f32;
    }
}

// ---------------------------------------------------------------------------
// Initialisation
// ---------------------------------------------------------------------------

fn initial_layout(scores: &[f32], n: usize, p: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = SplitMix64(seed ^ 0x007E_5EA1_1CE5_EED5);
    let mut y = vec![[0f32; 2]; n];
    for c in 0..2.min(p) {
        // Sign convention: the largest-magnitude score is positive, so the
        // layout does not flip between runs on slightly different data.
        let mut best = 0f32;
        for i in 0..n {
            let v = scores[i * p + c];
            if v.abs() > best.abs() {
                best = v;
            }
        }
        let sgn = if best < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            y[i][c] = sgn * scores[i * p + c];
        }
    }
    let mean0 = y.iter().map(|v| v[0] as f64).sum::<f64>() / n as f64;
    let std0 = (y.iter().map(|v| (v[0] as f64 - mean0).powi(2)).sum::<f64>() / n as f64).sqrt();
    const TARGET_STD: f64 = 1e-4;
    if std0 > 0.0 && std0.is_finite() {
        let s = TARGET_STD / std0;
        for v in &mut y {
            v[0] = (v[0] as f64 * s) as f32;
            v[1] = (v[1] as f64 * s) as f32;
        }
        for v in &mut y {
            v[0] += (rng.normal() * TARGET_STD * 0.01) as f32;
            v[1] += (rng.normal() * TARGET_STD * 0.01) as f32;
        }
    } else {
        // No variance at all (every point identical): random start.
        for v in &mut y {
            v[0] = (rng.normal() * TARGET_STD) as f32;
            v[1] = (rng.normal() * TARGET_STD) as f32;
        }
    }
    y
}

/// Small, fast, seedable generator (SplitMix64) with Box-Muller normals.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

// ---------------------------------------------------------------------------
// Optimisation
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Momentum {
    update: [f32; 2],
    gain: [f32; 2],
}

fn optimize(
    mut y: Vec<[f32; 2]>,
    p: &Csr,
    opts: &TsneOptions,
    pool: &Pool,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<[f32; 2]> {
    let n = y.len();
    let total = opts.iterations;
    let theta = if opts.theta.is_finite() {
        opts.theta.max(0.0)
    } else {
        0.5
    };
    let ee = if opts.early_exaggeration.is_finite() && opts.early_exaggeration > 0.0 {
        opts.early_exaggeration
    } else {
        12.0
    };
    let lr_for = |exag: f32| match opts.learning_rate {
        Some(lr) if lr.is_finite() && lr > 0.0 => lr,
        _ => (n as f32 / (4.0 * exag)).max(50.0),
    };
    let mut state = vec![
        Momentum {
            update: [0.0; 2],
            gain: [1.0; 2]
        };
        n
    ];
    let mut y_next = vec![[0f32; 2]; n];
    let mut tree = Tree::new(n);
    let mut rep = vec![[0f32; 2]; n];
    // Structure-of-arrays copy of `y` for the gathering attraction kernel.
    let (mut xs, mut ys) = (vec![0f32; n], vec![0f32; n]);
    progress(0, total);
    for it in 0..total {
        let early = it < opts.exaggeration_iters;
        let exag = if early { ee } else { 1.0 };
        let momentum = if early { MOMENTUM_EARLY } else { MOMENTUM_LATE };
        let lr = lr_for(exag);
        let z = pool.run(|| tree.repulsion(&y, theta, &mut rep));
        let inv_z = if z > 0.0 { (1.0 / z) as f32 } else { 0.0 };
        for (i, v) in y.iter().enumerate() {
            xs[i] = v[0];
            ys[i] = v[1];
        }
        pool.run(|| {
            const CH: usize = 512;
            let (y, rep, xs, ys) = (&y, &rep, &xs, &ys);
            let attract = attract_kernel();
            y_next
                .par_chunks_mut(CH)
                .zip(state.par_chunks_mut(CH))
                .enumerate()
                .for_each(|(c, (yn, st))| {
                    for t in 0..yn.len() {
                        let i = c * CH + t;
                        let yi = y[i];
                        // Attraction: Σ_j p_ij q_ij Z (y_i - y_j), exact.
                        let r = p.start[i]..p.start[i + 1];
                        let (ax, ay) = attract(yi[0], yi[1], xs, ys, &p.col[r.clone()], &p.val[r]);
                        let g = [
                            4.0 * (exag * ax - rep[i][0] * inv_z),
                            4.0 * (exag * ay - rep[i][1] * inv_z),
                        ];
                        let s = &mut st[t];
                        let mut u = [0f32; 2];
                        for a in 0..2 {
                            // Gains grow when the gradient reverses direction
                            // relative to the running update (bhtsne).
                            let flipped = (g[a] > 0.0) != (s.update[a] > 0.0) || s.update[a] == 0.0;
                            s.gain[a] = if flipped {
                                s.gain[a] + 0.2
                            } else {
                                (s.gain[a] * 0.8).max(MIN_GAIN)
                            };
                            u[a] = momentum * s.update[a] - lr * s.gain[a] * g[a];
                        }
                        let norm = (u[0] * u[0] + u[1] * u[1]).sqrt();
                        if norm > MAX_STEP_NORM {
                            let f = MAX_STEP_NORM / norm;
                            u = [u[0] * f, u[1] * f];
                        }
                        s.update = u;
                        yn[t] = [yi[0] + u[0], yi[1] + u[1]];
                    }
                })
        });
        std::mem::swap(&mut y, &mut y_next);
        center(&mut y);
        progress(it + 1, total);
    }
    y
}

/// `attract(px, py, xs, ys, cols, vals)` = `Σ_e vals[e]·q_e·(p - y_cols[e])`
/// with `q = 1 / (1 + |p - y|²)`. Every `cols[e]` must index `xs` and `ys`.
type AttrFn = fn(f32, f32, &[f32], &[f32], &[u32], &[f32]) -> (f32, f32);

fn attract_kernel() -> AttrFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return attract_avx2_dispatch;
        }
    }
    attract_generic
}

fn attract_generic(
    px: f32,
    py: f32,
    xs: &[f32],
    ys: &[f32],
    cols: &[u32],
    vals: &[f32],
) -> (f32, f32) {
    let (mut ax, mut ay) = (0f32, 0f32);
    for (&j, &v) in cols.iter().zip(vals) {
        let (dx, dy) = (px - xs[j as usize], py - ys[j as usize]);
        let w = v / (1.0 + dx * dx + dy * dy);
        ax += w * dx;
        ay += w * dy;
    }
    (ax, ay)
}

#[cfg(target_arch = "x86_64")]
fn attract_avx2_dispatch(
    px: f32,
    py: f32,
    xs: &[f32],
    ys: &[f32],
    cols: &[u32],
    vals: &[f32],
) -> (f32, f32) {
    assert!(xs.len() == ys.len() && cols.len() == vals.len() && xs.len() < i32::MAX as usize);
    debug_assert!(cols.iter().all(|&c| (c as usize) < xs.len()));
    // SAFETY: AVX2/FMA detected; the CSR columns are < n = xs.len() by
    // construction (checked when the matrix is built).
    unsafe { attract_avx2(px, py, xs, ys, cols, vals) }
}

/// Eight entries at a time, the neighbours' coordinates fetched with gathers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attract_avx2(
    px: f32,
    py: f32,
    xs: &[f32],
    ys: &[f32],
    cols: &[u32],
    vals: &[f32],
) -> (f32, f32) {
    use std::arch::x86_64::*;
    let one = _mm256_set1_ps(1.0);
    let (pxv, pyv) = (_mm256_set1_ps(px), _mm256_set1_ps(py));
    let (mut ax, mut ay) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let len = cols.len();
    let mut e = 0;
    while e + 8 <= len {
        // SAFETY: e + 8 <= len; gathered indices are < xs.len() (see caller).
        unsafe {
            let idx = _mm256_loadu_si256(cols.as_ptr().add(e) as *const __m256i);
            let dx = _mm256_sub_ps(pxv, _mm256_i32gather_ps::<4>(xs.as_ptr(), idx));
            let dy = _mm256_sub_ps(pyv, _mm256_i32gather_ps::<4>(ys.as_ptr(), idx));
            let d2 = _mm256_fmadd_ps(dx, dx, _mm256_fmadd_ps(dy, dy, one));
            let w = _mm256_div_ps(_mm256_loadu_ps(vals.as_ptr().add(e)), d2);
            ax = _mm256_fmadd_ps(w, dx, ax);
            ay = _mm256_fmadd_ps(w, dy, ay);
        }
        e += 8;
    }
    let mut l = [[0f32; 8]; 2];
    // SAFETY: 8 floats each.
    unsafe {
        _mm256_storeu_ps(l[0].as_mut_ptr(), ax);
        _mm256_storeu_ps(l[1].as_mut_ptr(), ay);
    }
    let (rx, ry) = attract_generic(px, py, xs, ys, &cols[e..], &vals[e..]);
    (hsum8(&l[0]) + rx, hsum8(&l[1]) + ry)
}

fn center(y: &mut [[f32; 2]]) {
    let n = y.len() as f64;
    let (mut sx, mut sy) = (0f64, 0f64);
    for v in y.iter() {
        sx += v[0] as f64;
        sy += v[1] as f64;
    }
    let (mx, my) = ((sx / n) as f32, (sy / n) as f32);
    for v in y.iter_mut() {
        v[0] -= mx;
        v[1] -= my;
    }
}

// ---------------------------------------------------------------------------
// Barnes-Hut quadtree
// ---------------------------------------------------------------------------

/// Tree node: a contiguous range `lo..hi` of the Morton-sorted points.
/// 32 bytes, children stored adjacently at `child..child+nchild`.
#[derive(Clone, Copy, Default)]
struct Node {
    cx: f32,
    cy: f32,
    /// Number of points (as the interaction weight).
    w: f32,
    /// Squared cell width.
    size2: f32,
    lo: u32,
    hi: u32,
    child: u32,
    nchild: u32,
}

const MAX_LEVEL: u32 = 32;

struct Tree {
    nodes: Vec<Node>,
    groups: Vec<u32>,
    /// Sorted position → original index (kept between iterations: the next
    /// sort starts from it).
    perm: Vec<u32>,
    keys: Vec<(u64, u32)>,
    sx: Vec<f32>,
    sy: Vec<f32>,
    /// Per sorted point: repulsion x, y and its Σ_j q_ij Z.
    out: Vec<[f32; 4]>,
    side: f64,
    /// `LEAF_CAP` / `GROUP_MAX` (fields so the benchmark can tune them).
    leaf_cap: usize,
    group_max: usize,
}

/// Interleaves the low 32 bits of `v` with zeros.
fn spread(v: u64) -> u64 {
    let mut x = v & 0xFFFF_FFFF;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

impl Tree {
    fn new(n: usize) -> Tree {
        Tree {
            nodes: Vec::new(),
            groups: Vec::new(),
            perm: (0..n as u32).collect(),
            keys: vec![(0, 0); n],
            sx: vec![0.0; n],
            sy: vec![0.0; n],
            out: vec![[0.0; 4]; n],
            side: 1.0,
            leaf_cap: LEAF_CAP,
            group_max: GROUP_MAX,
        }
    }

    fn build(&mut self, y: &[[f32; 2]]) {
        let n = y.len();
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for v in y {
            x0 = x0.min(v[0]);
            x1 = x1.max(v[0]);
            y0 = y0.min(v[1]);
            y1 = y1.max(v[1]);
        }
        let mut side = (x1 - x0).max(y1 - y0) as f64;
        if !(side > 0.0 && side.is_finite()) {
            side = 1.0;
        }
        self.side = side;
        let scale = 4294967296.0 / side;
        let (x0, y0) = (x0 as f64, y0 as f64);
        let quant = |v: f64, o: f64| (((v - o) * scale).max(0.0) as u64).min(0xFFFF_FFFF);
        let perm = &self.perm;
        self.keys
            .par_iter_mut()
            .enumerate()
            .with_min_len(1024)
            .for_each(|(s, key)| {
                let i = perm[s] as usize;
                let c =
                    spread(quant(y[i][0] as f64, x0)) | (spread(quant(y[i][1] as f64, y0)) << 1);
                *key = (c, i as u32);
            });
        // Stable, run-adaptive sort: the previous order is almost sorted.
        // Keys are unique, so the result does not depend on the algorithm.
        self.keys.sort();
        for s in 0..n {
            let i = self.keys[s].1;
            self.perm[s] = i;
            self.sx[s] = y[i as usize][0];
            self.sy[s] = y[i as usize][1];
        }
        self.nodes.clear();
        self.groups.clear();
        self.nodes.push(Node::default());
        self.build_node(0, 0, n, 0, false);
    }

    fn build_node(
        &mut self,
        ni: usize,
        lo: usize,
        hi: usize,
        level: u32,
        in_group: bool,
    ) -> (f64, f64) {
        let count = hi - lo;
        let leaf = count <= self.leaf_cap || level == MAX_LEVEL;
        let group = !in_group && (count <= self.group_max || leaf);
        if group {
            self.groups.push(ni as u32);
        }
        let size = self.side / (1u64 << level) as f64;
        let (mut sx, mut sy) = (0f64, 0f64);
        let (mut child, mut nchild) = (0u32, 0u32);
        if leaf {
            for s in lo..hi {
                sx += self.sx[s] as f64;
                sy += self.sy[s] as f64;
            }
        } else {
            let shift = 62 - 2 * level;
            let keys = &self.keys[lo..hi];
            let mut b = [lo; 5];
            for q in 1..4u64 {
                b[q as usize] = lo + keys.partition_point(|k| (k.0 >> shift) & 3 < q);
            }
            b[4] = hi;
            let mut nonempty = [0usize; 4];
            for q in 0..4 {
                if b[q + 1] > b[q] {
                    nonempty[nchild as usize] = q;
                    nchild += 1;
                }
            }
            child = self.nodes.len() as u32;
            self.nodes
                .resize(self.nodes.len() + nchild as usize, Node::default());
            for (t, &q) in nonempty[..nchild as usize].iter().enumerate() {
                let (cx, cy) = self.build_node(
                    child as usize + t,
                    b[q],
                    b[q + 1],
                    level + 1,
                    in_group || group,
                );
                sx += cx;
                sy += cy;
            }
        }
        self.nodes[ni] = Node {
            cx: (sx / count as f64) as f32,
            cy: (sy / count as f64) as f32,
            w: count as f32,
            size2: (size * size) as f32,
            lo: lo as u32,
            hi: hi as u32,
            child,
            nchild,
        };
        (sx, sy)
    }

    /// Repulsive forces `Σ_j q_ij² Z (y_i - y_j)` into `rep` (original order)
    /// and returns `Z = Σ_{i≠j} q_ij Z`.
    fn repulsion(&mut self, y: &[[f32; 2]], theta: f32, rep: &mut [[f32; 2]]) -> f64 {
        self.build(y);
        let theta2 = theta * theta;
        let kern = bh_kernel();
        // Split the output by group (groups are consecutive ranges in order).
        let mut chunks: Vec<&mut [[f32; 4]]> = Vec::with_capacity(self.groups.len());
        let mut rest = &mut self.out[..];
        for &g in &self.groups {
            let nd = &self.nodes[g as usize];
            let (a, b) = rest.split_at_mut((nd.hi - nd.lo) as usize);
            chunks.push(a);
            rest = b;
        }
        let (nodes, groups, sx, sy) = (&self.nodes, &self.groups, &self.sx, &self.sy);
        chunks.into_par_iter().zip(groups.par_iter()).for_each_init(
            Scratch::default,
            |sc, (out, &g)| {
                let gn = nodes[g as usize];
                let (glo, ghi) = (gn.lo as usize, gn.hi as usize);
                let (mut bx0, mut bx1, mut by0, mut by1) = (
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                );
                for s in glo..ghi {
                    bx0 = bx0.min(sx[s]);
                    bx1 = bx1.max(sx[s]);
                    by0 = by0.min(sy[s]);
                    by1 = by1.max(sy[s]);
                }
                sc.xs.clear();
                sc.ys.clear();
                sc.ws.clear();
                sc.stack.clear();
                sc.stack.push(0);
                while let Some(ni) = sc.stack.pop() {
                    let nd = &nodes[ni as usize];
                    let contains = nd.lo as usize <= glo && ghi <= nd.hi as usize;
                    if !contains {
                        let dx = (bx0 - nd.cx).max(nd.cx - bx1).max(0.0);
                        let dy = (by0 - nd.cy).max(nd.cy - by1).max(0.0);
                        if nd.size2 < theta2 * (dx * dx + dy * dy) {
                            sc.xs.push(nd.cx);
                            sc.ys.push(nd.cy);
                            sc.ws.push(nd.w);
                            continue;
                        }
                    }
                    if nd.nchild == 0 {
                        let (lo, hi) = (nd.lo as usize, nd.hi as usize);
                        sc.xs.extend_from_slice(&sx[lo..hi]);
                        sc.ys.extend_from_slice(&sy[lo..hi]);
                        sc.ws.extend(std::iter::repeat_n(1.0, hi - lo));
                    } else {
                        // Reverse so children are visited in order (the
                        // list order, hence the rounding, is then fixed).
                        for c in (nd.child..nd.child + nd.nchild).rev() {
                            sc.stack.push(c);
                        }
                    }
                }
                // Pad to a multiple of 8 with weightless entries.
                while sc.xs.len() % 8 != 0 {
                    sc.xs.push(0.0);
                    sc.ys.push(0.0);
                    sc.ws.push(0.0);
                }
                for (t, s) in (glo..ghi).enumerate() {
                    let (q, fx, fy) = kern(sx[s], sy[s], &sc.xs, &sc.ys, &sc.ws);
                    // The list contains the point itself (q_ii = 1, no force).
                    out[t] = [fx, fy, q - 1.0, 0.0];
                }
            },
        );
        let mut z = 0f64;
        for s in 0..y.len() {
            let o = self.out[s];
            rep[self.perm[s] as usize] = [o[0], o[1]];
            z += o[2] as f64;
        }
        z
    }
}

#[derive(Default)]
struct Scratch {
    xs: Vec<f32>,
    ys: Vec<f32>,
    ws: Vec<f32>,
    stack: Vec<u32>,
}

/// `kern(px, py, xs, ys, ws)` = `(Σ w q, Σ w q² (px-x), Σ w q² (py-y))` with
/// `q = 1 / (1 + |p - (x,y)|²)`; the slices have a length multiple of 8.
type BhFn = fn(f32, f32, &[f32], &[f32], &[f32]) -> (f32, f32, f32);

fn bh_kernel() -> BhFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return bh_avx2_dispatch;
        }
    }
    bh_generic
}

fn bh_generic(px: f32, py: f32, xs: &[f32], ys: &[f32], ws: &[f32]) -> (f32, f32, f32) {
    let (mut aq, mut ax, mut ay) = ([0f32; 8], [0f32; 8], [0f32; 8]);
    for ((x, y), w) in xs
        .chunks_exact(8)
        .zip(ys.chunks_exact(8))
        .zip(ws.chunks_exact(8))
    {
        for l in 0..8 {
            let dx = px - x[l];
            let dy = py - y[l];
            let q = 1.0 / (1.0 + dx * dx + dy * dy);
            let wq = w[l] * q;
            aq[l] += wq;
            let wq2 = wq * q;
            ax[l] += wq2 * dx;
            ay[l] += wq2 * dy;
        }
    }
    (hsum8(&aq), hsum8(&ax), hsum8(&ay))
}

fn hsum8(v: &[f32; 8]) -> f32 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

#[cfg(target_arch = "x86_64")]
fn bh_avx2_dispatch(px: f32, py: f32, xs: &[f32], ys: &[f32], ws: &[f32]) -> (f32, f32, f32) {
    assert!(xs.len().is_multiple_of(8) && ys.len() == xs.len() && ws.len() == xs.len());
    // SAFETY: selected only when AVX2 and FMA are available; lengths checked.
    unsafe { bh_avx2(px, py, xs, ys, ws) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bh_avx2(px: f32, py: f32, xs: &[f32], ys: &[f32], ws: &[f32]) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    let one = _mm256_set1_ps(1.0);
    let (pxv, pyv) = (_mm256_set1_ps(px), _mm256_set1_ps(py));
    let (mut aq, mut ax, mut ay) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut c = 0;
    while c < xs.len() {
        // SAFETY: c + 8 <= len for all three slices.
        unsafe {
            let dx = _mm256_sub_ps(pxv, _mm256_loadu_ps(xs.as_ptr().add(c)));
            let dy = _mm256_sub_ps(pyv, _mm256_loadu_ps(ys.as_ptr().add(c)));
            let d2 = _mm256_fmadd_ps(dx, dx, _mm256_fmadd_ps(dy, dy, one));
            // A true division: rcp + Newton was not measurably faster here
            // and would make results differ between CPU vendors.
            let q = _mm256_div_ps(one, d2);
            let wq = _mm256_mul_ps(_mm256_loadu_ps(ws.as_ptr().add(c)), q);
            aq = _mm256_add_ps(aq, wq);
            let wq2 = _mm256_mul_ps(wq, q);
            ax = _mm256_fmadd_ps(wq2, dx, ax);
            ay = _mm256_fmadd_ps(wq2, dy, ay);
        }
        c += 8;
    }
    let h = |v: __m256| {
        let mut a = [0f32; 8];
        // SAFETY: a has 8 elements.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
        hsum8(&a)
    };
    (h(aq), h(ax), h(ay))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `k` Gaussian blobs of `per` points in `d` dimensions (labels i % k).
    fn blobs(
        k: usize,
        per: usize,
        d: usize,
        spread: f32,
        seed: u64,
    ) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SplitMix64(seed);
        let centers: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..d).map(|_| rng.normal() as f32).collect())
            .collect();
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..k * per {
            let c = i % k;
            data.push(
                centers[c]
                    .iter()
                    .map(|&m| m + spread * rng.normal() as f32)
                    .collect(),
            );
            labels.push(c);
        }
        (data, labels)
    }

    /// A 2-D square embedded linearly in `d` dimensions: t-SNE can preserve
    /// its neighbourhoods well.
    fn plane(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64(seed);
        let a: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
        (0..n)
            .map(|_| {
                let (u, v) = (rng.uniform() as f32, rng.uniform() as f32);
                (0..d)
                    .map(|j| u * a[j] + v * b[j] + 0.001 * rng.normal() as f32)
                    .collect()
            })
            .collect()
    }

    fn quick() -> TsneOptions {
        TsneOptions {
            iterations: 400,
            exaggeration_iters: 150,
            ..Default::default()
        }
    }

    fn all_finite(y: &[[f32; 2]]) -> bool {
        y.iter().all(|p| p[0].is_finite() && p[1].is_finite())
    }

    #[test]
    fn separates_clusters() {
        // d = 80 > 50: exercises PCA, candidate search and exact re-ranking.
        let (k, per) = (6, 40);
        let (data, labels) = blobs(k, per, 80, 0.15, 1);
        let mut calls = 0;
        let y = tsne(&data, &quick(), &mut |i, t| {
            assert!(i <= t);
            calls += 1;
        });
        assert_eq!(calls, 401);
        assert_eq!(y.len(), data.len());
        assert!(all_finite(&y));
        // Every point is closer to its own cluster's centroid than to any
        // other, with a clear margin between clusters.
        let mut cent = vec![[0f64; 2]; k];
        for (p, &l) in y.iter().zip(&labels) {
            cent[l][0] += p[0] as f64 / per as f64;
            cent[l][1] += p[1] as f64 / per as f64;
        }
        let dist = |p: [f32; 2], c: [f64; 2]| {
            ((p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2)).sqrt()
        };
        let mut radius = 0f64;
        for (p, &l) in y.iter().zip(&labels) {
            let own = dist(*p, cent[l]);
            radius = radius.max(own);
            for (c, cc) in cent.iter().enumerate() {
                if c != l {
                    assert!(dist(*p, *cc) > own, "point nearer to another cluster");
                }
            }
        }
        let mut gap = f64::INFINITY;
        for a in 0..k {
            for b in a + 1..k {
                gap = gap.min(dist([cent[a][0] as f32, cent[a][1] as f32], cent[b]));
            }
        }
        assert!(
            gap > 2.0 * radius,
            "clusters overlap: gap {gap}, radius {radius}"
        );
        // Neighbourhoods at the cluster level: the 10 nearest embedding
        // neighbours share the label.
        let knn = knn_preservation(&data, &y, 10, 0);
        eprintln!("blobs: kNN preservation {knn:.3}, gap {gap:.2}, radius {radius:.2}");
        assert!(knn > 0.2, "kNN preservation {knn}");
    }

    #[test]
    fn preserves_neighbourhoods_of_a_manifold() {
        let data = plane(400, 64, 2);
        let y = tsne(&data, &quick(), &mut |_, _| {});
        assert!(all_finite(&y));
        let knn = knn_preservation(&data, &y, 10, 0);
        eprintln!("plane: kNN preservation {knn:.3}");
        assert!(knn > 0.6, "kNN preservation {knn}");
        // Sampled evaluation is close to the full one.
        let sampled = knn_preservation(&data, &y, 10, 100);
        assert!((sampled - knn).abs() < 0.1);
    }

    #[test]
    fn deterministic_for_a_seed_and_any_thread_count() {
        let (data, _) = blobs(4, 30, 60, 0.3, 3);
        let o1 = TsneOptions {
            threads: 1,
            seed: 7,
            ..quick()
        };
        let o2 = TsneOptions {
            threads: 2,
            seed: 7,
            ..quick()
        };
        let a = tsne(&data, &o1, &mut |_, _| {});
        let b = tsne(&data, &o1, &mut |_, _| {});
        let c = tsne(&data, &o2, &mut |_, _| {});
        assert_eq!(a, b);
        assert_eq!(a, c);
        let d = tsne(&data, &TsneOptions { seed: 8, ..o2 }, &mut |_, _| {});
        assert_ne!(a, d, "the seed should matter");
    }

    #[test]
    fn tiny_inputs_do_not_panic() {
        for n in 0..8 {
            for d in [0, 1, 3, 70] {
                let data: Vec<Vec<f32>> = (0..n)
                    .map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 5) as f32).collect())
                    .collect();
                let y = tsne(&data, &quick(), &mut |_, _| {});
                assert_eq!(y.len(), n);
                assert!(all_finite(&y), "n={n} d={d}: {y:?}");
                if n >= 2 {
                    let spread = y
                        .iter()
                        .map(|p| p[0].abs() + p[1].abs())
                        .fold(0f32, f32::max);
                    assert!(spread > 0.0, "n={n} d={d}: all points on top of each other");
                }
            }
        }
        assert_eq!(tiny_layout(1), vec![[0.0, 0.0]]);
        assert!(knn_preservation(&[], &[], 10, 0) == 1.0);
    }

    #[test]
    fn duplicates_ragged_rows_and_garbage() {
        // 30 identical rows, plus rows of other lengths and non-finite values.
        let mut data: Vec<Vec<f32>> = vec![vec![0.5; 20]; 30];
        data.push(vec![1.0; 10]);
        data.push(vec![f32::NAN, f32::INFINITY, 2.0]);
        data.push(Vec::new());
        let y = tsne(&data, &quick(), &mut |_, _| {});
        assert_eq!(y.len(), data.len());
        assert!(all_finite(&y));
        // All points identical.
        let same = vec![vec![1.0f32; 5]; 12];
        let y = tsne(&same, &quick(), &mut |_, _| {});
        assert!(all_finite(&y));
    }

    #[test]
    fn small_n_reduces_perplexity_and_gram_path() {
        // n = 20 < 3·30, d = 300 > n (Gram-matrix PCA).
        let (data, labels) = blobs(2, 10, 300, 0.05, 4);
        let y = tsne(&data, &quick(), &mut |_, _| {});
        assert!(all_finite(&y));
        // The two blobs end up apart: nearest embedding neighbour shares the label.
        for i in 0..y.len() {
            let j = (0..y.len())
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (y[a][0] - y[i][0]).powi(2) + (y[a][1] - y[i][1]).powi(2);
                    let db = (y[b][0] - y[i][0]).powi(2) + (y[b][1] - y[i][1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            assert_eq!(labels[i], labels[j]);
        }
        assert!((effective_perplexity(30.0, 20) - 19.0 / 3.0).abs() < 1e-6);
        assert_eq!(effective_perplexity(30.0, 4), 1.0);
    }

    #[test]
    fn pca_matches_exact_eigen_decomposition() {
        // Data with a known, well separated spectrum along random axes.
        let (n, d) = (300, 90);
        let mut rng = SplitMix64(5);
        let data: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                (0..d)
                    .map(|j| (rng.normal() * (d - j) as f64 / d as f64) as f32)
                    .collect()
            })
            .collect();
        let pool = Pool::new(0);
        let mut x = Flat::from_rows(&data, &pool);
        let s = pca_scores(&mut x, 50, &pool);
        // Column variances must be decreasing and match the exact spectrum
        // (variance of axis j ≈ ((d-j)/d)²), and columns uncorrelated.
        let var =
            |c: usize| (0..n).map(|i| (s[i * 50 + c] as f64).powi(2)).sum::<f64>() / (n - 1) as f64;
        for c in 1..50 {
            assert!(var(c) <= var(c - 1) * 1.0001, "variance not sorted at {c}");
        }
        let mut a: Vec<f64> = vec![0.0; d * d];
        for r in &data {
            let m: Vec<f64> = (0..d).map(|j| r[j] as f64).collect();
            for i in 0..d {
                for j in 0..d {
                    a[i * d + j] += m[i] * m[j];
                }
            }
        }
        // Centre: subtract n·mean·meanᵀ.
        let mean: Vec<f64> = (0..d)
            .map(|j| data.iter().map(|r| r[j] as f64).sum::<f64>() / n as f64)
            .collect();
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (a[i * d + j] - n as f64 * mean[i] * mean[j]) / (n - 1) as f64;
            }
        }
        let (mut ev, _) = jacobi_eigen(&mut a, d);
        ev.sort_by(|x, y| y.total_cmp(x));
        for c in 0..5 {
            assert!(
                (var(c) - ev[c]).abs() < 1e-3 * ev[0],
                "eigenvalue {c}: {} vs {}",
                var(c),
                ev[c]
            );
        }
        let cov01 = (0..n)
            .map(|i| s[i * 50] as f64 * s[i * 50 + 1] as f64)
            .sum::<f64>()
            / (n - 1) as f64;
        assert!(cov01.abs() < 1e-3 * ev[0]);
    }

    #[test]
    fn exact_knn_matches_brute_force() {
        let (n, p, k) = (157, 13, 9);
        let mut rng = SplitMix64(6);
        let x: Vec<f32> = (0..n * p).map(|_| rng.normal() as f32).collect();
        let (idx, d2) = knn(&x, n, p, k);
        for i in 0..n {
            let mut all: Vec<(f32, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (
                        sq_dist(&x[i * p..(i + 1) * p], &x[j * p..(j + 1) * p]),
                        j as u32,
                    )
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<u32> = all[..k].iter().map(|e| e.1).collect();
            assert_eq!(&idx[i * k..(i + 1) * k], &want[..]);
            assert!((d2[i * k] - all[0].0).abs() < 1e-4);
        }
    }

    #[test]
    fn barnes_hut_matches_exact_repulsion() {
        let n = 700;
        let mut rng = SplitMix64(9);
        let y: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                let c = (i % 5) as f64 * 7.0;
                [(c + rng.normal()) as f32, (rng.normal() * 3.0) as f32]
            })
            .collect();
        let mut tree = Tree::new(n);
        let mut rep = vec![[0f32; 2]; n];
        let z = tree.repulsion(&y, 0.5, &mut rep);
        let mut exact_z = 0f64;
        let mut exact = vec![[0f64; 2]; n];
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (dx, dy) = ((y[i][0] - y[j][0]) as f64, (y[i][1] - y[j][1]) as f64);
                    let q = 1.0 / (1.0 + dx * dx + dy * dy);
                    exact_z += q;
                    exact[i][0] += q * q * dx;
                    exact[i][1] += q * q * dy;
                }
            }
        }
        assert!((z - exact_z).abs() < 0.01 * exact_z, "Z {z} vs {exact_z}");
        let (mut err, mut norm) = (0f64, 0f64);
        for i in 0..n {
            err +=
                (rep[i][0] as f64 - exact[i][0]).powi(2) + (rep[i][1] as f64 - exact[i][1]).powi(2);
            norm += exact[i][0].powi(2) + exact[i][1].powi(2);
        }
        eprintln!(
            "BH: Z rel err {:.2e}, force rel err {:.2e}",
            (z - exact_z).abs() / exact_z,
            (err / norm).sqrt()
        );
        assert!(
            (err / norm).sqrt() < 0.02,
            "relative force error {}",
            (err / norm).sqrt()
        );
        // θ = 0 is exact.
        let z0 = tree.repulsion(&y, 0.0, &mut rep);
        assert!((z0 - exact_z).abs() < 1e-4 * exact_z);
    }

    /// Micro-benchmark of the per-iteration kernels on a t-SNE-like layout:
    /// `cargo test --release --lib -- --ignored --nocapture bench_kernels`.
    #[test]
    #[ignore]
    fn bench_kernels() {
        let n = 20000;
        let mut rng = SplitMix64(11);
        let centres: Vec<[f64; 3]> = (0..20)
            .map(|_| {
                [
                    rng.normal() * 30.0,
                    rng.normal() * 30.0,
                    1.0 + 4.0 * rng.uniform(),
                ]
            })
            .collect();
        let y: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                let c = centres[i % 20];
                [
                    (c[0] + rng.normal() * c[2]) as f32,
                    (c[1] + rng.normal() * c[2]) as f32,
                ]
            })
            .collect();
        let cpu = || {
            let s = std::fs::read_to_string("/proc/self/stat").unwrap();
            let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
        };
        let cfgs: Vec<(usize, usize)> = std::env::var("BH_CFG")
            .map(|v| {
                v.split(',')
                    .map(|p| {
                        let (a, b) = p.split_once('/').unwrap();
                        (a.parse().unwrap(), b.parse().unwrap())
                    })
                    .collect()
            })
            .unwrap_or(vec![(LEAF_CAP, GROUP_MAX)]);
        let reps = 100;
        for &(leaf_cap, group_max) in &cfgs {
            let mut tree = Tree::new(n);
            tree.leaf_cap = leaf_cap;
            tree.group_max = group_max;
            let mut rep = vec![[0f32; 2]; n];
            tree.repulsion(&y, 0.5, &mut rep);
            let t = cpu();
            for _ in 0..reps {
                tree.repulsion(&y, 0.5, &mut rep);
            }
            let dt = (cpu() - t) / reps as f64;
            let t = cpu();
            for _ in 0..reps {
                tree.build(&y);
            }
            let db = (cpu() - t) / reps as f64;
            // Interaction count.
            let mut inter = 0usize;
            {
                let theta2 = 0.25f32;
                for &g in &tree.groups {
                    let gn = tree.nodes[g as usize];
                    let (glo, ghi) = (gn.lo as usize, gn.hi as usize);
                    let (mut bx0, mut bx1, mut by0, mut by1) = (
                        f32::INFINITY,
                        f32::NEG_INFINITY,
                        f32::INFINITY,
                        f32::NEG_INFINITY,
                    );
                    for s in glo..ghi {
                        bx0 = bx0.min(tree.sx[s]);
                        bx1 = bx1.max(tree.sx[s]);
                        by0 = by0.min(tree.sy[s]);
                        by1 = by1.max(tree.sy[s]);
                    }
                    let mut len = 0usize;
                    let mut stack = vec![0u32];
                    while let Some(ni) = stack.pop() {
                        let nd = &tree.nodes[ni as usize];
                        let contains = nd.lo as usize <= glo && ghi <= nd.hi as usize;
                        if !contains {
                            let dx = (bx0 - nd.cx).max(nd.cx - bx1).max(0.0);
                            let dy = (by0 - nd.cy).max(nd.cy - by1).max(0.0);
                            if nd.size2 < theta2 * (dx * dx + dy * dy) {
                                len += 1;
                                continue;
                            }
                        }
                        if nd.nchild == 0 {
                            len += (nd.hi - nd.lo) as usize;
                        } else {
                            stack.extend(nd.child..nd.child + nd.nchild);
                        }
                    }
                    inter += len.div_ceil(8) * 8 * (ghi - glo);
                }
            }
            eprintln!(
                "leaf {leaf_cap} group {group_max}: repulsion {:.2} ms CPU/iter (build {:.2} ms), {:.0} interactions/point, {:.2} ns CPU/interaction",
                dt * 1e3,
                db * 1e3,
                inter as f64 / n as f64,
                (dt - db) * 1e9 / inter as f64
            );
        }
        // Attraction with a random kNN-like matrix (130 entries per row).
        let (xs, ys): (Vec<f32>, Vec<f32>) = y.iter().map(|v| (v[0], v[1])).unzip();
        let cols: Vec<u32> = (0..n * 130)
            .map(|e| ((e / 130 + (rng.next_u64() % 400) as usize) % n) as u32)
            .collect();
        let vals: Vec<f32> = (0..n * 130).map(|_| 1e-6).collect();
        let attract = attract_kernel();
        let t = cpu();
        let mut sink = 0f32;
        for _ in 0..reps {
            let v: Vec<(f32, f32)> = (0..n)
                .into_par_iter()
                .map(|i| {
                    attract(
                        xs[i],
                        ys[i],
                        &xs,
                        &ys,
                        &cols[i * 130..(i + 1) * 130],
                        &vals[i * 130..(i + 1) * 130],
                    )
                })
                .collect();
            sink += v[7].0;
        }
        let da = (cpu() - t) / reps as f64;
        eprintln!(
            "attraction {:.2} ms CPU/iter, {:.2} ns CPU/entry [{sink}] load {}",
            da * 1e3,
            da * 1e9 / (n * 130) as f64,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
    }

    #[test]
    fn knn_preservation_of_identity_is_one() {
        let data: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![(i * 37 % 50) as f32, (i * 11 % 7) as f32 * 0.01])
            .collect();
        let emb: Vec<[f32; 2]> = data.iter().map(|r| [r[0], r[1]]).collect();
        assert_eq!(knn_preservation(&data, &emb, 5, 0), 1.0);
    }
}
