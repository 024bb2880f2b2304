//! im2col for the dense convolution of the stem.

use super::same_padding;
use rayon::prelude::*;

/// Copies `count` runs of `R` values, `src_step` and `dst_step` apart.
///
/// # Safety
/// Every run must be inside its buffer.
#[inline(always)]
unsafe fn copy_runs<const R: usize>(
    src: *const f32,
    src_step: usize,
    dst: *mut f32,
    dst_step: usize,
    count: usize,
) {
    for i in 0..count {
        unsafe {
            let v = (src.add(i * src_step) as *const [f32; R]).read_unaligned();
            (dst.add(i * dst_step) as *mut [f32; R]).write_unaligned(v);
        }
    }
}

/// im2col of one image for a dense k×k convolution with SAME padding:
/// `[h][w][cin]` → `[oh·ow][k·k·cin]` (zeros outside the image). Returns `(oh, ow)`.
#[allow(clippy::too_many_arguments)]
pub fn im2col_image(
    input: &[f32],
    h: usize,
    wd: usize,
    cin: usize,
    kernel: usize,
    stride: usize,
    out: &mut Vec<f32>,
    par: bool,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    let kk = kernel * kernel * cin;
    let run = kernel * cin;
    // Every element is written below (zeros outside the image), so a reused buffer
    // needs no clearing.
    out.resize(oh * ow * kk, 0.0);
    out.truncate(oh * ow * kk);
    // Output columns whose taps all fall inside the image: one contiguous run of
    // kernel × cin values per tap row, copied without per-value checks.
    let inner_lo = pad_l.div_ceil(stride).min(ow);
    let inner_hi = if wd + pad_l >= kernel {
        ((wd + pad_l - kernel) / stride + 1).clamp(inner_lo, ow)
    } else {
        inner_lo
    };
    let fill_row = |oy: usize, out_row: &mut [f32]| {
        for ky in 0..kernel {
            let iy = (oy * stride + ky) as isize - pad_t as isize;
            if iy < 0 || iy >= h as isize {
                for col in out_row.chunks_exact_mut(kk) {
                    col[ky * run..(ky + 1) * run].fill(0.0);
                }
                continue;
            }
            let row = (iy as usize) * wd;
            if inner_hi > inner_lo {
                let first = (row + inner_lo * stride - pad_l) * cin;
                let last = (row + (inner_hi - 1) * stride - pad_l) * cin + run;
                assert!(last <= input.len() && inner_hi * kk <= out_row.len());
                let src = input[first..].as_ptr();
                let dst = out_row[inner_lo * kk + ky * run..].as_mut_ptr();
                let count = inner_hi - inner_lo;
                // SAFETY: the last run read ends at `last` and the last one written
                // inside `out_row`, both checked above.
                unsafe {
                    if run == 9 {
                        // The stem (3×3 × RGB): fixed-size copies, not memcpy calls.
                        copy_runs::<9>(src, stride * cin, dst, kk, count);
                    } else {
                        for i in 0..count {
                            std::ptr::copy_nonoverlapping(
                                src.add(i * stride * cin),
                                dst.add(i * kk),
                                run,
                            );
                        }
                    }
                }
            }
            for ox in (0..inner_lo).chain(inner_hi..ow) {
                let ix0 = (ox * stride) as isize - pad_l as isize;
                let dst = &mut out_row[ox * kk + ky * run..ox * kk + (ky + 1) * run];
                for kx in 0..kernel {
                    let ix = ix0 + kx as isize;
                    let d = &mut dst[kx * cin..(kx + 1) * cin];
                    if ix < 0 || ix >= wd as isize {
                        d.fill(0.0);
                    } else {
                        let src = (row + ix as usize) * cin;
                        d.copy_from_slice(&input[src..src + cin]);
                    }
                }
            }
        }
    };
    if oh * ow * kk == 0 {
        return (oh, ow);
    }
    if par {
        // ~2 % of a batch-1 forward pass when left to one thread.
        let rows = oh.div_ceil(rayon::current_num_threads() * 2).max(1);
        out.par_chunks_mut(rows * ow * kk)
            .enumerate()
            .for_each(|(i, chunk)| {
                for (j, out_row) in chunk.chunks_exact_mut(ow * kk).enumerate() {
                    fill_row(i * rows + j, out_row);
                }
            });
    } else {
        for (oy, out_row) in out.chunks_exact_mut(ow * kk).enumerate() {
            fill_row(oy, out_row);
        }
    }
    (oh, ow)
}
