//! Centring and PCA: the rows copied into one flat, zero-padded matrix, projected on
//! their top principal axes by block subspace iteration.

use crate::{PCA_ITERS, PCA_OVERSAMPLE, Pool, round16};
use rayon::prelude::*;
use reelmap_numeric::SplitMix64;
use reelmap_numeric::gemm::{Lhs, Rhs, gemm};

/// Row-major `n × ld` matrix, `ld` = dimension rounded up to 16, zero padded.
pub(crate) struct Flat {
    pub(crate) v: Vec<f32>,
    pub(crate) n: usize,
    pub(crate) d: usize,
    pub(crate) ld: usize,
}

impl Flat {
    /// Copies, sanitises and centres the rows.
    pub(crate) fn from_rows(rows: &[Vec<f32>], pool: &Pool) -> Flat {
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
pub(crate) fn pca_scores(x: &mut Flat, p: usize, pool: &Pool) -> Vec<f32> {
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
pub(crate) fn top_eigen(
    s: &[f32],
    m: usize,
    ls: usize,
    p: usize,
    pool: &Pool,
) -> (Vec<f64>, Vec<f64>) {
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
    let mut rng = SplitMix64::from_state(0x005E_ED0F_7A9E);
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
pub(crate) fn select_eigen(
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
pub(crate) fn orthonormalize(q: &mut [f64], m: usize, b: usize) {
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
pub(crate) fn jacobi_eigen(a: &mut [f64], m: usize) -> (Vec<f64>, Vec<f64>) {
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
