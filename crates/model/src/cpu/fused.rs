//! The fused inverted-residual block ([`mbconv_fused`]).

use super::depthwise::{DwArgs, depthwise_scalar};
use super::gemm::PackedGemm;
use super::threads::{SendPtr, for_parts};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{Isa, same_padding};

/// The weights of one inverted-residual block for [`mbconv_fused`].
pub struct MbConv<'a> {
    /// 1×1 expansion, `in → mid` (ReLU6).
    pub expand: &'a PackedGemm,
    /// Depthwise `[k][k][mid]` and bias (ReLU6).
    pub dw_w: &'a [f32],
    pub dw_b: &'a [f32],
    pub kernel: usize,
    pub stride: usize,
    /// 1×1 projection, `mid → out` (linear).
    pub project: &'a PackedGemm,
}

thread_local! {
    static BAND: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
}

/// One inverted-residual block (expand → depthwise → project, plus the input as
/// residual when `residual`) on one image `[h][w][in]`, computed in bands of output
/// rows so that the expanded activations (the largest tensor of the block) never
/// exist for the whole image: each band's expanded rows stay in L2 and the rows
/// shared with the next band are kept, not recomputed. Gives the same results, bit
/// for bit, as running the three layers one after the other. `out` receives
/// `[oh][ow][out]`; returns `(oh, ow)`. `par`: bands split over the threads.
#[allow(clippy::too_many_arguments)]
pub fn mbconv_fused(
    isa: Isa,
    b: &MbConv,
    input: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    residual: bool,
    par: bool,
) -> (usize, usize) {
    let (cin, mid, n) = (b.expand.k(), b.expand.n(), b.project.n());
    assert_eq!(b.project.k(), mid);
    let (k, s) = (b.kernel, b.stride);
    let (oh, pad_t) = same_padding(h, k, s);
    let (ow, pad_l) = same_padding(w, k, s);
    assert!(input.len() >= h * w * cin, "input too short");
    assert!(out.len() >= oh * ow * n, "output too short");
    assert_eq!(b.dw_w.len(), k * k * mid);
    assert_eq!(b.dw_b.len(), mid);
    assert!(isa.is_supported());
    if residual {
        assert!(s == 1 && cin == n, "residual needs stride 1 and in = out");
    }
    let per_row = w * mid;
    // Output rows per band: about 96K floats (384 KB) of expanded rows.
    let band = ((96 * 1024 / per_row).saturating_sub(k) / s).max(1);
    let bands = oh.div_ceil(band);
    let parts = if par {
        (rayon::current_num_threads() * 2).min(bands)
    } else {
        1
    };
    let out_ptr = SendPtr(out.as_mut_ptr());
    let run_part = |t: usize| {
        let out_base = out_ptr; // capture the Send wrapper, not its raw field
        // Equal numbers of output rows (whole bands left one thread a band more than
        // the other); each part cuts its rows into bands of at most `band`.
        let (lo, hi) = (oh * t / parts, oh * (t + 1) / parts);
        let work = |ebuf: &mut Vec<f32>, dbuf: &mut Vec<f32>| {
            // Input rows [have_lo, have_hi) are expanded in ebuf.
            let (mut have_lo, mut have_hi) = (0usize, 0usize);
            let mut oy = lo;
            while oy < hi {
                let oy_end = (oy + band).min(hi);
                let need_lo = (oy * s).saturating_sub(pad_t).min(h);
                let need_hi = ((oy_end - 1) * s + k).saturating_sub(pad_t).min(h);
                let rows = need_hi - need_lo;
                if ebuf.len() < rows * per_row {
                    ebuf.resize(rows * per_row, 0.0);
                }
                let start = if have_hi > need_lo && have_lo <= need_lo {
                    ebuf.copy_within(
                        (need_lo - have_lo) * per_row..(have_hi - have_lo) * per_row,
                        0,
                    );
                    have_hi
                } else {
                    need_lo
                };
                if need_hi > start {
                    let off = (start - need_lo) * per_row;
                    b.expand.run(
                        &input[start * w * cin..need_hi * w * cin],
                        (need_hi - start) * w,
                        &mut ebuf[off..rows * per_row],
                        None,
                        true,
                        false,
                    );
                }
                have_lo = need_lo;
                have_hi = need_hi;
                let orows = oy_end - oy;
                if dbuf.len() < orows * ow * mid {
                    dbuf.resize(orows * ow * mid, 0.0);
                }
                let d = DwArgs {
                    input: ebuf.as_ptr(),
                    h,
                    w,
                    c: mid,
                    wts: b.dw_w.as_ptr(),
                    bias: b.dw_b.as_ptr(),
                    k,
                    stride: s,
                    pad_t,
                    pad_l,
                    out: dbuf.as_mut_ptr(),
                    ow,
                    row0: need_lo,
                    orow0: oy,
                };
                // SAFETY: ebuf holds input rows need_lo..need_hi, which cover every
                // tap of output rows oy..oy_end; dbuf holds those output rows.
                unsafe {
                    match isa {
                        #[cfg(target_arch = "x86_64")]
                        Isa::Avx512 => x86::depthwise_avx512(&d, oy, oy_end),
                        #[cfg(target_arch = "x86_64")]
                        Isa::Avx2 => x86::depthwise_avx2(&d, oy, oy_end),
                        _ => depthwise_scalar(&d, oy, oy_end),
                    }
                }
                // SAFETY: parts own disjoint output rows.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out_base.0.add(oy * ow * n), orows * ow * n)
                };
                let res = residual.then(|| &input[oy * ow * n..oy_end * ow * n]);
                b.project.run(
                    &dbuf[..orows * ow * mid],
                    orows * ow,
                    dst,
                    res,
                    false,
                    false,
                );
                oy = oy_end;
            }
        };
        BAND.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let (e, d) = &mut *bufs;
                work(e, d)
            }
            Err(_) => work(&mut Vec::new(), &mut Vec::new()),
        });
    };
    for_parts(parts, run_part);
    (oh, ow)
}
