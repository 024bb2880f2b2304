//! The simple kernels (`pointwise` via the `gemm` crate, `depthwise`, `dense_conv`,
//! `global_average_pool`), which the CPU path used before the SIMD ones: kept as a
//! second reference for tests.

use super::gemm::gemm_bias_act;
use super::{relu6_in_place, same_padding};
use rayon::prelude::*;

/// Pointwise (1×1) convolution: `out[m, :] = act(input[m, :] · w + bias (+ residual[m, :]))`.
/// `w` is `[k][n]` row-major (input channels × output channels).
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    input: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    bias: &[f32],
    n: usize,
    residual: Option<&[f32]>,
    relu6: bool,
    out: &mut Vec<f32>,
) {
    debug_assert_eq!(input.len(), m * k);
    debug_assert_eq!(w.len(), k * n);
    out.clear();
    out.resize(m * n, 0.0);
    gemm_bias_act(input, m, k, w, bias, n, residual, relu6, out, true);
}

/// Depthwise k×k convolution with SAME padding, bias and ReLU6, NHWC.
/// `w` is `[k][k][c]`. Input `[batch][h][w][c]`, output `[batch][oh][ow][c]`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    input: &[f32],
    batch: usize,
    h: usize,
    wd: usize,
    c: usize,
    w: &[f32],
    bias: &[f32],
    kernel: usize,
    stride: usize,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    out.clear();
    out.resize(batch * oh * ow * c, 0.0);
    let row_len = ow * c;
    out.par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(row, acc)| {
            let b = row / oh;
            let oy = row % oh;
            let img = &input[b * h * wd * c..(b + 1) * h * wd * c];
            for px in acc.chunks_exact_mut(c) {
                px.copy_from_slice(bias);
            }
            for ky in 0..kernel {
                let iy = (oy * stride + ky) as isize - pad_t as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let in_row = &img[iy as usize * wd * c..(iy as usize + 1) * wd * c];
                for kx in 0..kernel {
                    let wk = &w[(ky * kernel + kx) * c..(ky * kernel + kx + 1) * c];
                    // Output columns whose input column is inside the image.
                    let lo = (pad_l as isize - kx as isize).max(0) as usize;
                    let lo = lo.div_ceil(stride);
                    let hi_num = wd as isize - 1 + pad_l as isize - kx as isize;
                    if hi_num < 0 {
                        continue;
                    }
                    let hi = ((hi_num as usize) / stride + 1).min(ow);
                    for ox in lo..hi {
                        let ix = ox * stride + kx - pad_l;
                        let src = &in_row[ix * c..(ix + 1) * c];
                        let dst = &mut acc[ox * c..(ox + 1) * c];
                        for ((d, s), k) in dst.iter_mut().zip(src).zip(wk) {
                            *d += s * k;
                        }
                    }
                }
            }
            relu6_in_place(acc);
        });
    (oh, ow)
}

/// The stem: a dense 3×3 convolution (3 → `n` channels) with SAME padding, bias and
/// ReLU6, as im2col + GEMM. `w` is `[ky][kx][cin][n]` flattened to `[k*k*cin][n]`.
#[allow(clippy::too_many_arguments)]
pub fn dense_conv(
    input: &[f32],
    batch: usize,
    h: usize,
    wd: usize,
    cin: usize,
    w: &[f32],
    bias: &[f32],
    n: usize,
    kernel: usize,
    stride: usize,
    scratch: &mut Vec<f32>,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    let kk = kernel * kernel * cin;
    scratch.clear();
    scratch.resize(batch * oh * ow * kk, 0.0);
    scratch
        .par_chunks_mut(ow * kk)
        .enumerate()
        .for_each(|(row, cols)| {
            let b = row / oh;
            let oy = row % oh;
            let img = &input[b * h * wd * cin..(b + 1) * h * wd * cin];
            for ox in 0..ow {
                let col = &mut cols[ox * kk..(ox + 1) * kk];
                for ky in 0..kernel {
                    let iy = (oy * stride + ky) as isize - pad_t as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kernel {
                        let ix = (ox * stride + kx) as isize - pad_l as isize;
                        if ix < 0 || ix >= wd as isize {
                            continue;
                        }
                        let src = ((iy as usize) * wd + ix as usize) * cin;
                        let dst = (ky * kernel + kx) * cin;
                        col[dst..dst + cin].copy_from_slice(&img[src..src + cin]);
                    }
                }
            }
        });
    pointwise(scratch, batch * oh * ow, kk, w, bias, n, None, true, out);
    (oh, ow)
}

/// Mean over the spatial positions of each image: `[batch][hw][c]` → `[batch][c]`.
pub fn global_average_pool(input: &[f32], batch: usize, hw: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * c];
    for b in 0..batch {
        let dst = &mut out[b * c..(b + 1) * c];
        for px in input[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
            for (d, s) in dst.iter_mut().zip(px) {
                *d += s;
            }
        }
        let inv = 1.0 / hw as f32;
        dst.iter_mut().for_each(|d| *d *= inv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_matches_direct_definition() {
        let (b, h, w, c, k) = (2, 9, 7, 5, 3);
        let input: Vec<f32> = (0..b * h * w * c)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let wt: Vec<f32> = (0..k * k * c)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1).collect();
        for stride in [1, 2] {
            let mut out = Vec::new();
            let (oh, ow) = depthwise(&input, b, h, w, c, &wt, &bias, k, stride, &mut out);
            let (_, pt) = same_padding(h, k, stride);
            let (_, pl) = same_padding(w, k, stride);
            for bi in 0..b {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            let mut acc = bias[ch];
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pt as isize;
                                    let ix = (ox * stride + kx) as isize - pl as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        acc += input
                                            [((bi * h + iy as usize) * w + ix as usize) * c + ch]
                                            * wt[(ky * k + kx) * c + ch];
                                    }
                                }
                            }
                            let got = out[((bi * oh + oy) * ow + ox) * c + ch];
                            assert!((got - acc.clamp(0.0, 6.0)).abs() < 1e-5, "{got} vs {acc}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pointwise_adds_bias_and_residual() {
        let (m, k, n) = (3, 2, 2);
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let w = [1.0, 0.0, 0.0, 1.0]; // identity
        let bias = [0.5, -0.5];
        let residual = [1.0; 6];
        let mut out = Vec::new();
        pointwise(&input, m, k, &w, &bias, n, Some(&residual), false, &mut out);
        assert_eq!(out, vec![2.5, 2.5, 4.5, 4.5, 6.5, 6.5]);
        pointwise(&input, m, k, &w, &bias, n, None, true, &mut out);
        assert_eq!(out, vec![1.5, 1.5, 3.5, 3.5, 5.5, 5.5]);
    }
}
