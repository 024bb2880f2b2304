//! Initialisation (PCA scores, as openTSNE) and gradient descent: momentum, gains,
//! step clipping, the exact attraction over the sparse affinities and the
//! Barnes-Hut repulsion.

use crate::affinity::Csr;
use crate::barnes_hut::Tree;
use crate::{MAX_STEP_NORM, MIN_GAIN, MOMENTUM_EARLY, MOMENTUM_LATE, Pool, TsneOptions};
use rayon::prelude::*;
use reelmap_numeric::SplitMix64;
use reelmap_numeric::vector::hsum8;

pub(crate) fn initial_layout(scores: &[f32], n: usize, p: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = SplitMix64::from_state(seed ^ 0x007E_5EA1_1CE5_EED5);
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

#[derive(Clone, Copy, Default)]
pub(crate) struct Momentum {
    pub(crate) update: [f32; 2],
    pub(crate) gain: [f32; 2],
}

pub(crate) fn optimize(
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
pub(crate) type AttrFn = fn(f32, f32, &[f32], &[f32], &[u32], &[f32]) -> (f32, f32);

pub(crate) fn attract_kernel() -> AttrFn {
    #[cfg(target_arch = "x86_64")]
    {
        if reelmap_numeric::isa::active().has_avx2_fma() {
            return attract_avx2_dispatch;
        }
    }
    attract_generic
}

pub(crate) fn attract_generic(
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
pub(crate) fn attract_avx2_dispatch(
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
pub(crate) unsafe fn attract_avx2(
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

pub(crate) fn center(y: &mut [[f32; 2]]) {
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
