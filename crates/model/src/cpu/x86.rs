//! x86-64 SIMD kernels (AVX-512F and AVX2+FMA). Only called after runtime detection
//! of the features (see `Isa::is_supported`); every function here is `unsafe` for that
//! reason and for its raw pointers.

#![allow(clippy::needless_range_loop)] // index loops read best in the SIMD kernels

use super::{DwArgs, GemmTile, Px};
use std::arch::x86_64::*;

/// GEMM micro-kernel, AVX-512: up to `MR` (≤ 12) rows × `NV`·16 columns over the full K.
/// Rows beyond `t.rows` re-read row 0 (their results are discarded), columns beyond
/// `t.cols` are masked on load and store; the packed panel and bias are zero-padded
/// to `NV`·16 columns.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemm_avx512<const MR: usize, const NV: usize>(t: &GemmTile) {
    unsafe {
        let mut ap = [t.a; MR];
        for (i, p) in ap.iter_mut().enumerate() {
            if i < t.rows {
                *p = t.a.add(i * t.lda);
            }
        }
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        let mut b = t.b;
        for p in 0..t.k {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(b.add(v * 16));
            }
            for i in 0..MR {
                let av = _mm512_set1_ps(*ap[i].add(p));
                for v in 0..NV {
                    acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
                }
            }
            b = b.add(NV * 16);
        }
        let zero = _mm512_setzero_ps();
        let six = _mm512_set1_ps(6.0);
        for (i, row) in acc.iter().enumerate() {
            if i >= t.rows {
                break;
            }
            for (v, &a) in row.iter().enumerate() {
                let col = v * 16;
                if col >= t.cols {
                    break;
                }
                let valid = (t.cols - col).min(16);
                let mask: __mmask16 = if valid == 16 {
                    0xffff
                } else {
                    ((1u32 << valid) - 1) as u16
                };
                let mut x = _mm512_add_ps(a, _mm512_loadu_ps(t.bias.add(col)));
                if !t.res.is_null() {
                    x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, t.res.add(i * t.ldr + col)));
                }
                if t.relu6 {
                    x = _mm512_min_ps(_mm512_max_ps(x, zero), six);
                }
                _mm512_mask_storeu_ps(t.c.add(i * t.ldc + col), mask, x);
            }
        }
    }
}

#[inline(always)]
unsafe fn mask8(valid: usize) -> __m256i {
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(valid as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// GEMM micro-kernel, AVX2+FMA: up to 6 rows × `NV`·8 columns (see `gemm_avx512`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemm_avx2<const NV: usize>(t: &GemmTile) {
    const MR: usize = 6;
    unsafe {
        let mut ap = [t.a; MR];
        for (i, p) in ap.iter_mut().enumerate() {
            if i < t.rows {
                *p = t.a.add(i * t.lda);
            }
        }
        let mut acc = [[_mm256_setzero_ps(); NV]; MR];
        let mut b = t.b;
        for p in 0..t.k {
            let mut bv = [_mm256_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(b.add(v * 8));
            }
            for i in 0..MR {
                let av = _mm256_set1_ps(*ap[i].add(p));
                for v in 0..NV {
                    acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
                }
            }
            b = b.add(NV * 8);
        }
        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        for (i, row) in acc.iter().enumerate() {
            if i >= t.rows {
                break;
            }
            for (v, &a) in row.iter().enumerate() {
                let col = v * 8;
                if col >= t.cols {
                    break;
                }
                let valid = (t.cols - col).min(8);
                let mut x = _mm256_add_ps(a, _mm256_loadu_ps(t.bias.add(col)));
                let dst = t.c.add(i * t.ldc + col);
                if valid == 8 {
                    if !t.res.is_null() {
                        x = _mm256_add_ps(x, _mm256_loadu_ps(t.res.add(i * t.ldr + col)));
                    }
                    if t.relu6 {
                        x = _mm256_min_ps(_mm256_max_ps(x, zero), six);
                    }
                    _mm256_storeu_ps(dst, x);
                } else {
                    let m = mask8(valid);
                    if !t.res.is_null() {
                        x = _mm256_add_ps(x, _mm256_maskload_ps(t.res.add(i * t.ldr + col), m));
                    }
                    if t.relu6 {
                        x = _mm256_min_ps(_mm256_max_ps(x, zero), six);
                    }
                    _mm256_maskstore_ps(dst, m, x);
                }
            }
        }
    }
}

/// Depthwise convolution + bias + ReLU6 over output rows `oy0..oy1`, AVX-512.
/// Channels are vectorised (NHWC), up to 4 vectors of 16 per pass.
/// Depthwise convolution + bias + ReLU6 over output rows `oy0..oy1`, AVX-512.
/// Channels are vectorised (NHWC); up to four horizontally adjacent output pixels
/// are computed together (independent accumulators, one weight load per tap for
/// all of them), taps outside the image skipped per pixel.
#[target_feature(enable = "avx512f")]
pub unsafe fn depthwise_avx512(d: &DwArgs, oy0: usize, oy1: usize) {
    unsafe {
        let c = d.c;
        for oy in oy0..oy1 {
            let iy0 = (oy * d.stride) as isize - d.pad_t as isize;
            let ky_lo = (-iy0).max(0) as usize;
            let ky_hi = ((d.h as isize - iy0).min(d.k as isize)).max(0) as usize;
            let mut ox = 0;
            while ox < d.ow {
                // Eight pixels of one 16-channel vector at a time where all their taps
                // are inside: fewer loads per multiply-add than four pixels of two
                // vectors (5×5, stride 1: 0.43 against 0.65), same operations in the
                // same order, so the same results.
                if d.ow - ox >= 8 {
                    let ix0 = (ox * d.stride) as isize - d.pad_l as isize;
                    if ix0 >= 0 && ix0 as usize + 7 * d.stride + d.k <= d.w {
                        let g = Group {
                            iy0,
                            ky_lo,
                            ky_hi,
                            ix0,
                            out: d.out.add(((oy - d.orow0) * d.ow + ox) * c),
                        };
                        let mut c0 = 0;
                        while c0 < c {
                            let rem = c - c0;
                            let mask: __mmask16 = if rem >= 16 {
                                0xffff
                            } else {
                                ((1u32 << rem) - 1) as u16
                            };
                            match (d.k, d.stride) {
                                (3, 1) => dw_inside_avx512::<3, 1, 1, 8>(d, &g, c0, mask),
                                (3, 2) => dw_inside_avx512::<3, 2, 1, 8>(d, &g, c0, mask),
                                (5, 1) => dw_inside_avx512::<5, 1, 1, 8>(d, &g, c0, mask),
                                (5, 2) => dw_inside_avx512::<5, 2, 1, 8>(d, &g, c0, mask),
                                _ => break,
                            }
                            c0 += 16;
                        }
                        if c0 >= c {
                            ox += 8;
                            continue;
                        }
                    }
                }
                let np = (d.ow - ox).min(4);
                let ix0 = (ox * d.stride) as isize - d.pad_l as isize;
                let out = d.out.add(((oy - d.orow0) * d.ow + ox) * c);
                // All taps of the group inside the image horizontally: no checks.
                let inside = ix0 >= 0 && ix0 as usize + (np - 1) * d.stride + d.k <= d.w;
                let g = Group {
                    iy0,
                    ky_lo,
                    ky_hi,
                    ix0,
                    out,
                };
                let mut c0 = 0;
                while c0 < c {
                    let rem = c - c0;
                    let nv = if rem > 16 { 2 } else { 1 };
                    let last = rem.min(32) - (nv - 1) * 16;
                    let mask: __mmask16 = if last >= 16 {
                        0xffff
                    } else {
                        ((1u32 << last) - 1) as u16
                    };
                    match (np, nv, inside, d.k, d.stride) {
                        (4, 2, true, 3, 1) => dw_inside_avx512::<3, 1, 2, 4>(d, &g, c0, mask),
                        (4, 2, true, 3, 2) => dw_inside_avx512::<3, 2, 2, 4>(d, &g, c0, mask),
                        (4, 2, true, 5, 1) => dw_inside_avx512::<5, 1, 2, 4>(d, &g, c0, mask),
                        (4, 2, true, 5, 2) => dw_inside_avx512::<5, 2, 2, 4>(d, &g, c0, mask),
                        (4, 1, true, 3, 1) => dw_inside_avx512::<3, 1, 1, 4>(d, &g, c0, mask),
                        (4, 1, true, 3, 2) => dw_inside_avx512::<3, 2, 1, 4>(d, &g, c0, mask),
                        (4, 1, true, 5, 1) => dw_inside_avx512::<5, 1, 1, 4>(d, &g, c0, mask),
                        (4, 1, true, 5, 2) => dw_inside_avx512::<5, 2, 1, 4>(d, &g, c0, mask),
                        _ => {}
                    }
                    match (np, nv, inside) {
                        _ if np == 4 && inside && matches!((d.k, d.stride), (3 | 5, 1 | 2)) => {}
                        (4, 2, true) => dw_pixels_avx512::<4, 2, false>(d, &g, c0, mask),
                        (4, 2, false) => dw_pixels_avx512::<4, 2, true>(d, &g, c0, mask),
                        (4, _, true) => dw_pixels_avx512::<4, 1, false>(d, &g, c0, mask),
                        (4, _, false) => dw_pixels_avx512::<4, 1, true>(d, &g, c0, mask),
                        (3, 2, _) => dw_pixels_avx512::<3, 2, true>(d, &g, c0, mask),
                        (3, _, _) => dw_pixels_avx512::<3, 1, true>(d, &g, c0, mask),
                        (2, 2, _) => dw_pixels_avx512::<2, 2, true>(d, &g, c0, mask),
                        (2, _, _) => dw_pixels_avx512::<2, 1, true>(d, &g, c0, mask),
                        (_, 2, _) => dw_pixels_avx512::<1, 2, true>(d, &g, c0, mask),
                        (_, _, _) => dw_pixels_avx512::<1, 1, true>(d, &g, c0, mask),
                    }
                    c0 += 32;
                }
                ox += np;
            }
        }
    }
}

/// `P` adjacent output pixels whose taps are all inside the image horizontally, for
/// a kernel size `K` and stride `S` known at compile time: each input vector of a
/// kernel row is loaded once and used for every (pixel, tap) pair that reads it.
#[inline(always)]
unsafe fn dw_inside_avx512<const K: usize, const S: usize, const NV: usize, const P: usize>(
    d: &DwArgs,
    g: &Group,
    c0: usize,
    last_mask: __mmask16,
) {
    // Input columns one kernel row of P pixels reads: (P - 1)·S + K ≤ 19.
    let span = (P - 1) * S + K;
    unsafe {
        let mut masks = [0xffffu16; NV];
        masks[NV - 1] = last_mask;
        let mut acc = [[_mm512_setzero_ps(); NV]; P];
        for v in 0..NV {
            let b = _mm512_maskz_loadu_ps(masks[v], d.bias.add(c0 + v * 16));
            for a in acc.iter_mut() {
                a[v] = b;
            }
        }
        for ky in g.ky_lo..g.ky_hi {
            let iy = (g.iy0 + ky as isize) as usize;
            let row = d
                .input
                .add(((iy - d.row0) * d.w + g.ix0 as usize) * d.c + c0);
            let mut x = [[_mm512_setzero_ps(); NV]; 19];
            for j in 0..span {
                for v in 0..NV {
                    x[j][v] = _mm512_maskz_loadu_ps(masks[v], row.add(j * d.c + v * 16));
                }
            }
            for kx in 0..K {
                let wk = d.wts.add((ky * K + kx) * d.c + c0);
                for v in 0..NV {
                    let wv = _mm512_maskz_loadu_ps(masks[v], wk.add(v * 16));
                    for p in 0..P {
                        acc[p][v] = _mm512_fmadd_ps(x[p * S + kx][v], wv, acc[p][v]);
                    }
                }
            }
        }
        let zero = _mm512_setzero_ps();
        let six = _mm512_set1_ps(6.0);
        for (p, a) in acc.iter().enumerate() {
            for v in 0..NV {
                let y = _mm512_min_ps(_mm512_max_ps(a[v], zero), six);
                _mm512_mask_storeu_ps(g.out.add(p * d.c + c0 + v * 16), masks[v], y);
            }
        }
    }
}

/// A run of horizontally adjacent output pixels of one row.
struct Group {
    iy0: isize,
    ky_lo: usize,
    ky_hi: usize,
    /// Input column of tap 0 of the first pixel.
    ix0: isize,
    /// Output of the first pixel.
    out: *mut f32,
}

/// `P` adjacent output pixels × `NV` vectors of 16 channels from `c0` (the last
/// vector masked by `last_mask`).
#[inline(always)]
unsafe fn dw_pixels_avx512<const P: usize, const NV: usize, const CHECK: bool>(
    d: &DwArgs,
    g: &Group,
    c0: usize,
    last_mask: __mmask16,
) {
    unsafe {
        let mut masks = [0xffffu16; NV];
        masks[NV - 1] = last_mask;
        let mut acc = [[_mm512_setzero_ps(); NV]; P];
        for v in 0..NV {
            let b = _mm512_maskz_loadu_ps(masks[v], d.bias.add(c0 + v * 16));
            for a in acc.iter_mut() {
                a[v] = b;
            }
        }
        let w = d.w as isize;
        for ky in g.ky_lo..g.ky_hi {
            let iy = (g.iy0 + ky as isize) as usize;
            let row = d.input.add((iy - d.row0) * d.w * d.c + c0);
            for kx in 0..d.k {
                let wk = d.wts.add((ky * d.k + kx) * d.c + c0);
                let mut wv = [_mm512_setzero_ps(); NV];
                for v in 0..NV {
                    wv[v] = _mm512_maskz_loadu_ps(masks[v], wk.add(v * 16));
                }
                for (p, a) in acc.iter_mut().enumerate() {
                    let ix = g.ix0 + (p * d.stride + kx) as isize;
                    if CHECK && (ix < 0 || ix >= w) {
                        continue;
                    }
                    let src = row.add(ix as usize * d.c);
                    for v in 0..NV {
                        let x = _mm512_maskz_loadu_ps(masks[v], src.add(v * 16));
                        a[v] = _mm512_fmadd_ps(x, wv[v], a[v]);
                    }
                }
            }
        }
        let zero = _mm512_setzero_ps();
        let six = _mm512_set1_ps(6.0);
        for (p, a) in acc.iter().enumerate() {
            for v in 0..NV {
                let y = _mm512_min_ps(_mm512_max_ps(a[v], zero), six);
                _mm512_mask_storeu_ps(g.out.add(p * d.c + c0 + v * 16), masks[v], y);
            }
        }
    }
}

/// Depthwise convolution + bias + ReLU6, AVX2+FMA: like `depthwise_avx512` with
/// vectors of 8 channels; a channel count that is not a multiple of 8 ends with a
/// scalar tail.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn depthwise_avx2(d: &DwArgs, oy0: usize, oy1: usize) {
    unsafe {
        let c = d.c;
        let cv = c / 8 * 8;
        for oy in oy0..oy1 {
            let iy0 = (oy * d.stride) as isize - d.pad_t as isize;
            let ky_lo = (-iy0).max(0) as usize;
            let ky_hi = ((d.h as isize - iy0).min(d.k as isize)).max(0) as usize;
            let mut ox = 0;
            while ox < d.ow {
                let np = (d.ow - ox).min(4);
                let ix0 = (ox * d.stride) as isize - d.pad_l as isize;
                let out = d.out.add(((oy - d.orow0) * d.ow + ox) * c);
                // All taps of the group inside the image horizontally: no checks.
                let inside = ix0 >= 0 && ix0 as usize + (np - 1) * d.stride + d.k <= d.w;
                let g = Group {
                    iy0,
                    ky_lo,
                    ky_hi,
                    ix0,
                    out,
                };
                let mut c0 = 0;
                while c0 < cv {
                    let nv = if cv - c0 >= 16 { 2 } else { 1 };
                    match (np, nv, inside, d.k, d.stride) {
                        (4, 2, true, 3, 1) => dw_inside_avx2::<3, 1, 2>(d, &g, c0),
                        (4, 2, true, 3, 2) => dw_inside_avx2::<3, 2, 2>(d, &g, c0),
                        (4, 2, true, 5, 1) => dw_inside_avx2::<5, 1, 2>(d, &g, c0),
                        (4, 2, true, 5, 2) => dw_inside_avx2::<5, 2, 2>(d, &g, c0),
                        (4, 1, true, 3, 1) => dw_inside_avx2::<3, 1, 1>(d, &g, c0),
                        (4, 1, true, 3, 2) => dw_inside_avx2::<3, 2, 1>(d, &g, c0),
                        (4, 1, true, 5, 1) => dw_inside_avx2::<5, 1, 1>(d, &g, c0),
                        (4, 1, true, 5, 2) => dw_inside_avx2::<5, 2, 1>(d, &g, c0),
                        _ => {}
                    }
                    match (np, nv, inside) {
                        _ if np == 4 && inside && matches!((d.k, d.stride), (3 | 5, 1 | 2)) => {}
                        (4, 2, true) => dw_pixels_avx2::<4, 2, false>(d, &g, c0),
                        (4, 2, false) => dw_pixels_avx2::<4, 2, true>(d, &g, c0),
                        (4, _, true) => dw_pixels_avx2::<4, 1, false>(d, &g, c0),
                        (4, _, false) => dw_pixels_avx2::<4, 1, true>(d, &g, c0),
                        (3, 2, _) => dw_pixels_avx2::<3, 2, true>(d, &g, c0),
                        (3, _, _) => dw_pixels_avx2::<3, 1, true>(d, &g, c0),
                        (2, 2, _) => dw_pixels_avx2::<2, 2, true>(d, &g, c0),
                        (2, _, _) => dw_pixels_avx2::<2, 1, true>(d, &g, c0),
                        (_, 2, _) => dw_pixels_avx2::<1, 2, true>(d, &g, c0),
                        (_, _, _) => dw_pixels_avx2::<1, 1, true>(d, &g, c0),
                    }
                    c0 += nv * 8;
                }
                if cv < c {
                    for p in 0..np {
                        let pix0 = ix0 + (p * d.stride) as isize;
                        let px = Px {
                            iy0,
                            ix0: pix0,
                            ky_lo,
                            ky_hi,
                            kx_lo: (-pix0).max(0) as usize,
                            kx_hi: ((d.w as isize - pix0).min(d.k as isize)).max(0) as usize,
                            out: out.add(p * c),
                        };
                        super::depthwise_pixel_scalar(d, &px, cv, c);
                    }
                }
                ox += np;
            }
        }
    }
}

/// AVX2 version of `dw_inside_avx512` (full vectors of 8 channels).
#[inline(always)]
unsafe fn dw_inside_avx2<const K: usize, const S: usize, const NV: usize>(
    d: &DwArgs,
    g: &Group,
    c0: usize,
) {
    const P: usize = 4;
    let span = (P - 1) * S + K;
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NV]; P];
        for v in 0..NV {
            let b = _mm256_loadu_ps(d.bias.add(c0 + v * 8));
            for a in acc.iter_mut() {
                a[v] = b;
            }
        }
        for ky in g.ky_lo..g.ky_hi {
            let iy = (g.iy0 + ky as isize) as usize;
            let row = d
                .input
                .add(((iy - d.row0) * d.w + g.ix0 as usize) * d.c + c0);
            let mut x = [[_mm256_setzero_ps(); NV]; 11];
            for j in 0..span {
                for v in 0..NV {
                    x[j][v] = _mm256_loadu_ps(row.add(j * d.c + v * 8));
                }
            }
            for kx in 0..K {
                let wk = d.wts.add((ky * K + kx) * d.c + c0);
                for v in 0..NV {
                    let wv = _mm256_loadu_ps(wk.add(v * 8));
                    for p in 0..P {
                        acc[p][v] = _mm256_fmadd_ps(x[p * S + kx][v], wv, acc[p][v]);
                    }
                }
            }
        }
        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        for (p, a) in acc.iter().enumerate() {
            for v in 0..NV {
                let y = _mm256_min_ps(_mm256_max_ps(a[v], zero), six);
                _mm256_storeu_ps(g.out.add(p * d.c + c0 + v * 8), y);
            }
        }
    }
}

/// `P` adjacent output pixels × `NV` full vectors of 8 channels from `c0` (AVX2).
#[inline(always)]
unsafe fn dw_pixels_avx2<const P: usize, const NV: usize, const CHECK: bool>(
    d: &DwArgs,
    g: &Group,
    c0: usize,
) {
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NV]; P];
        for v in 0..NV {
            let b = _mm256_loadu_ps(d.bias.add(c0 + v * 8));
            for a in acc.iter_mut() {
                a[v] = b;
            }
        }
        let w = d.w as isize;
        for ky in g.ky_lo..g.ky_hi {
            let iy = (g.iy0 + ky as isize) as usize;
            let row = d.input.add((iy - d.row0) * d.w * d.c + c0);
            for kx in 0..d.k {
                let wk = d.wts.add((ky * d.k + kx) * d.c + c0);
                let mut wv = [_mm256_setzero_ps(); NV];
                for v in 0..NV {
                    wv[v] = _mm256_loadu_ps(wk.add(v * 8));
                }
                for (p, a) in acc.iter_mut().enumerate() {
                    let ix = g.ix0 + (p * d.stride + kx) as isize;
                    if CHECK && (ix < 0 || ix >= w) {
                        continue;
                    }
                    let src = row.add(ix as usize * d.c);
                    for v in 0..NV {
                        let x = _mm256_loadu_ps(src.add(v * 8));
                        a[v] = _mm256_fmadd_ps(x, wv[v], a[v]);
                    }
                }
            }
        }
        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        for (p, a) in acc.iter().enumerate() {
            for v in 0..NV {
                let y = _mm256_min_ps(_mm256_max_ps(a[v], zero), six);
                _mm256_storeu_ps(g.out.add(p * d.c + c0 + v * 8), y);
            }
        }
    }
}
