//! Depthwise convolution (+ bias + ReLU6).

use super::threads::for_parts;
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{Isa, relu6_in_place, same_padding};

/// Arguments of the depthwise kernels: one image `[h][w][c]` → `[oh][ow][c]`.
pub(crate) struct DwArgs {
    pub input: *const f32,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    /// `[k][k][c]`
    pub wts: *const f32,
    pub bias: *const f32,
    pub k: usize,
    pub stride: usize,
    pub pad_t: usize,
    pub pad_l: usize,
    pub out: *mut f32,
    pub ow: usize,
    /// First input row held in `input` (0: the whole image).
    pub row0: usize,
    /// First output row held in `out`.
    pub orow0: usize,
}
unsafe impl Send for DwArgs {}
unsafe impl Sync for DwArgs {}

/// One output pixel: top-left input position and the range of taps inside the image.
pub(crate) struct Px {
    pub iy0: isize,
    pub ix0: isize,
    pub ky_lo: usize,
    pub ky_hi: usize,
    pub kx_lo: usize,
    pub kx_hi: usize,
    pub out: *mut f32,
}

/// Channels `c0..c1` of one output pixel, portable code.
///
/// # Safety
/// `d` and `px` must describe valid buffers.
pub(crate) unsafe fn depthwise_pixel_scalar(d: &DwArgs, px: &Px, c0: usize, c1: usize) {
    unsafe {
        let acc = std::slice::from_raw_parts_mut(px.out.add(c0), c1 - c0);
        acc.copy_from_slice(std::slice::from_raw_parts(d.bias.add(c0), c1 - c0));
        for ky in px.ky_lo..px.ky_hi {
            let iy = (px.iy0 + ky as isize) as usize;
            for kx in px.kx_lo..px.kx_hi {
                let ix = (px.ix0 + kx as isize) as usize;
                let src = std::slice::from_raw_parts(
                    d.input.add(((iy - d.row0) * d.w + ix) * d.c + c0),
                    c1 - c0,
                );
                let wk = std::slice::from_raw_parts(d.wts.add((ky * d.k + kx) * d.c + c0), c1 - c0);
                for ((a, s), w) in acc.iter_mut().zip(src).zip(wk) {
                    *a += s * w;
                }
            }
        }
        relu6_in_place(acc);
    }
}

/// # Safety
/// `d` must describe valid buffers.
pub(super) unsafe fn depthwise_scalar(d: &DwArgs, oy0: usize, oy1: usize) {
    for oy in oy0..oy1 {
        let iy0 = (oy * d.stride) as isize - d.pad_t as isize;
        let ky_lo = (-iy0).max(0) as usize;
        let ky_hi = ((d.h as isize - iy0).min(d.k as isize)).max(0) as usize;
        for ox in 0..d.ow {
            let ix0 = (ox * d.stride) as isize - d.pad_l as isize;
            let kx_lo = (-ix0).max(0) as usize;
            let kx_hi = ((d.w as isize - ix0).min(d.k as isize)).max(0) as usize;
            let px = Px {
                iy0,
                ix0,
                ky_lo,
                ky_hi,
                kx_lo,
                kx_hi,
                out: unsafe { d.out.add(((oy - d.orow0) * d.ow + ox) * d.c) },
            };
            unsafe { depthwise_pixel_scalar(d, &px, 0, d.c) };
        }
    }
}

/// Depthwise k×k convolution of one image `[h][w][c]` with SAME padding, bias and
/// ReLU6, with the kernels of `isa`. `w` is `[k][k][c]`; `out` receives
/// `[oh][ow][c]` (grown if needed) and `(oh, ow)` is returned. `par`: rows split over
/// the threads of the current rayon pool.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_image(
    isa: Isa,
    input: &[f32],
    h: usize,
    wd: usize,
    c: usize,
    w: &[f32],
    bias: &[f32],
    kernel: usize,
    stride: usize,
    out: &mut [f32],
    par: bool,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    assert!(input.len() >= h * wd * c, "input too short");
    assert!(out.len() >= oh * ow * c, "output too short");
    assert_eq!(w.len(), kernel * kernel * c);
    assert_eq!(bias.len(), c);
    assert!(isa.is_supported(), "{} is not supported here", isa.name());
    let d = DwArgs {
        input: input.as_ptr(),
        h,
        w: wd,
        c,
        wts: w.as_ptr(),
        bias: bias.as_ptr(),
        k: kernel,
        stride,
        pad_t,
        pad_l,
        out: out.as_mut_ptr(),
        ow,
        row0: 0,
        orow0: 0,
    };
    let rows = |lo: usize, hi: usize| {
        // SAFETY: sizes checked above, ISA checked above; row ranges are disjoint.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => x86::depthwise_avx512(&d, lo, hi),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => x86::depthwise_avx2(&d, lo, hi),
                _ => depthwise_scalar(&d, lo, hi),
            }
        }
    };
    let parts = if par && oh * ow * c * kernel * kernel > 100_000 {
        (rayon::current_num_threads() * 4).min(oh)
    } else {
        1
    };
    for_parts(parts, |t| rows(oh * t / parts, oh * (t + 1) / parts));
    (oh, ow)
}
