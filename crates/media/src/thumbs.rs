//! Posters, thumbnails and the resize they use.

use crate::RgbFrame;
use anyhow::{Result, anyhow};

/// Picks the poster: the first sampled frame that is neither near-black nor flat,
/// falling back to the most detailed one.
pub fn choose_poster(frames: &[RgbFrame]) -> Option<usize> {
    let stats: Vec<(f32, f32)> = frames.iter().map(|f| f.luma_stats()).collect();
    // Prefer a frame from the middle third (titles and fades live at the ends).
    let n = frames.len();
    let order: Vec<usize> = (n / 3..n).chain(0..n / 3).collect();
    order
        .iter()
        .copied()
        .find(|&i| stats[i].0 > 24.0 && stats[i].0 < 235.0 && stats[i].1 > 12.0)
        .or_else(|| (0..n).max_by(|&a, &b| stats[a].1.total_cmp(&stats[b].1)))
}

/// Encodes RGB as JPEG, optionally downscaled so the height is at most `max_h`.
pub fn encode_jpeg(frame: &RgbFrame, max_h: u32, quality: u8) -> Result<(Vec<u8>, u32, u32)> {
    anyhow::ensure!(
        frame.data.len() == frame.width as usize * frame.height as usize * 3,
        "frame buffer size mismatch"
    );
    let small;
    let (data, w, h) = if frame.height > max_h {
        let w = (frame.width as u64 * max_h as u64 / frame.height as u64).max(1) as u32;
        small = downscale_rgb(&frame.data, frame.width, frame.height, w, max_h);
        (&small[..], w, max_h)
    } else {
        (&frame.data[..], frame.width, frame.height)
    };
    anyhow::ensure!(w <= 65535 && h <= 65535, "image too large for JPEG");
    let mut out = Vec::new();
    // jpeg-encoder (SIMD colour conversion and DCT): ~4× faster than image's encoder on
    // the 16 thumbnails and the poster written per video.
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(data, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| anyhow!("JPEG encoding failed: {e}"))?;
    Ok((out, w, h))
}

/// For each output index of a 1-D resize: the first input index and the normalised
/// weights of a triangle (linear) filter, widened by the shrink factor so that every
/// input pixel contributes (the same filter as `image`'s `FilterType::Triangle`).
fn triangle_taps(src: u32, dst: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = src as f32 / dst as f32;
    let scale = ratio.max(1.0);
    (0..dst)
        .map(|o| {
            let centre = (o as f32 + 0.5) * ratio;
            let first = ((centre - scale).floor().max(0.0)) as usize;
            let last = ((centre + scale).ceil() as usize).min(src as usize);
            let mut w: Vec<f32> = (first..last)
                .map(|i| (1.0 - ((i as f32 + 0.5 - centre) / scale).abs()).max(0.0))
                .collect();
            let sum: f32 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|x| *x /= sum);
            }
            (first, w)
        })
        .collect()
}

/// Resizes packed RGB with a separable triangle filter: the vertical pass first, over
/// whole rows (contiguous, vectorised), so that the per-pixel horizontal pass only
/// runs on the few output rows. `image::imageops::resize` is several times slower
/// (generic per-pixel float conversions).
pub fn downscale_rgb(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<u8> {
    let (row_len, dw_) = (sw as usize * 3, dw as usize);
    let cols = FixedTaps::new(triangle_taps(sw, dw));
    let rows = triangle_taps(sh, dh);
    // One value of padding: see `FixedTaps::horizontal`.
    let mut mid = vec![0f32; row_len + 1];
    let mut out = vec![0u8; dh as usize * dw_ * 3];
    for (out_row, (first, w)) in out.chunks_exact_mut(dw_ * 3).zip(&rows) {
        mid.iter_mut().for_each(|a| *a = 0.0);
        for (k, &wk) in w.iter().enumerate() {
            let r = &src[(first + k) * row_len..(first + k + 1) * row_len];
            accumulate_row(&mut mid[..row_len], r, wk);
        }
        match cols.taps {
            4 => cols.horizontal::<4>(&mid, out_row),
            5 => cols.horizontal::<5>(&mid, out_row),
            6 => cols.horizontal::<6>(&mid, out_row),
            7 => cols.horizontal::<7>(&mid, out_row),
            8 => cols.horizontal::<8>(&mid, out_row),
            _ => cols.horizontal_any(&mid, out_row),
        }
    }
    out
}

/// `acc += w · row`, eight lanes at a time where AVX2 is there (the baseline
/// x86-64 build has four-lane SSE2): most of a thumbnail's resize.
fn accumulate_row(acc: &mut [f32], row: &[u8], w: f32) {
    #[inline(always)]
    fn plain(acc: &mut [f32], row: &[u8], w: f32) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += w * v as f32;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(acc: &mut [f32], row: &[u8], w: f32) {
            plain(acc, row, w)
        }
        if reelmap_numeric::isa::active().has_avx2_fma() {
            // SAFETY: AVX2 is present (the process's instruction set has it).
            return unsafe { avx2(acc, row, w) };
        }
    }
    plain(acc, row, w)
}

/// The taps of a 1-D resize padded to one length (zero weights), each window moved
/// inside the source, so that the horizontal pass runs a fixed-length loop.
struct FixedTaps {
    taps: usize,
    first: Vec<usize>,
    weights: Vec<f32>,
}

impl FixedTaps {
    fn new(taps: Vec<(usize, Vec<f32>)>) -> FixedTaps {
        let n = taps.iter().map(|(_, w)| w.len()).max().unwrap_or(0);
        let src_end = taps.iter().map(|(f, w)| f + w.len()).max().unwrap_or(0);
        let mut first = Vec::with_capacity(taps.len());
        let mut weights = vec![0f32; taps.len() * n];
        for (o, (f, w)) in taps.iter().enumerate() {
            // Shift the window left where it would run past the end; the weights keep
            // their source pixels.
            let start = (*f).min(src_end - n);
            let shift = f - start;
            first.push(start);
            weights[o * n + shift..o * n + shift + w.len()].copy_from_slice(w);
        }
        FixedTaps {
            taps: n,
            first,
            weights,
        }
    }

    fn horizontal<const T: usize>(&self, mid: &[f32], out_row: &mut [u8]) {
        let weights = self.weights.chunks_exact(T);
        for ((px, &first), w) in out_row.chunks_exact_mut(3).zip(&self.first).zip(weights) {
            let taps: &[f32; T] = w.try_into().unwrap();
            // `mid` has one value of padding for the last pixel's fourth lane.
            let src: &[f32] = &mid[first * 3..first * 3 + T * 3 + 1];
            #[cfg(target_arch = "x86_64")]
            {
                // Four SSE lanes per tap (the fourth, the next pixel's red, is
                // dropped): one vector multiply and add instead of three scalar ones,
                // and one conversion: the horizontal pass took two thirds of the
                // resize as scalar code.
                use std::arch::x86_64::*;
                // SAFETY: SSE2 is part of x86-64; every load reads 4 values of
                // `src`, which has 3·T + 1.
                let packed = unsafe {
                    let mut acc = _mm_setzero_ps();
                    for (t, &wt) in taps.iter().enumerate() {
                        let p = _mm_loadu_ps(src.as_ptr().add(t * 3));
                        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wt), p));
                    }
                    // Rounds half up like `store_rounded`; the packs saturate to 0..=255.
                    let i = _mm_cvttps_epi32(_mm_add_ps(acc, _mm_set1_ps(0.5)));
                    let b = _mm_packus_epi16(_mm_packs_epi32(i, i), _mm_setzero_si128());
                    _mm_cvtsi128_si32(b).to_le_bytes()
                };
                px.copy_from_slice(&packed[..3]);
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let mut acc = [0f32; 3];
                for (p, &wt) in src.chunks_exact(3).zip(taps) {
                    for c in 0..3 {
                        acc[c] += wt * p[c];
                    }
                }
                store_rounded(px, acc);
            }
        }
    }

    fn horizontal_any(&self, mid: &[f32], out_row: &mut [u8]) {
        let n = self.taps;
        let weights = self.weights.chunks_exact(n.max(1));
        for ((px, &first), w) in out_row.chunks_exact_mut(3).zip(&self.first).zip(weights) {
            let mut acc = [0f32; 3];
            for (p, &wk) in mid[first * 3..(first + n) * 3].chunks_exact(3).zip(w) {
                acc[0] += wk * p[0];
                acc[1] += wk * p[1];
                acc[2] += wk * p[2];
            }
            store_rounded(px, acc);
        }
    }
}

#[inline]
fn store_rounded(px: &mut [u8], acc: [f32; 3]) {
    for (o, a) in px.iter_mut().zip(acc) {
        // Rounds half up: `f32::round` is a libm call on baseline x86-64 (20 % of the
        // resize). The cast saturates to 0..=255.
        *o = (a + 0.5) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_length_taps_give_the_plain_loop_bytes() {
        // Values near rounding boundaries, beyond 0..=255 and negative, as the
        // weighted sums of a filter with negative lobes could give.
        let mut seed = 11u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for (src, dst) in [(455u32, 171u32), (455, 227), (300, 100), (64, 20)] {
            let taps = FixedTaps::new(triangle_taps(src, dst));
            let mid: Vec<f32> = (0..src as usize * 3 + 1)
                .map(|i| match i % 7 {
                    0 => 254.5 + next(),
                    1 => -3.0 * next(),
                    2 => 300.0 * next(),
                    _ => (255.0 * next()).floor() + 0.5,
                })
                .collect();
            let mut plain = vec![0u8; dst as usize * 3];
            taps.horizontal_any(&mid, &mut plain);
            let mut fixed = vec![0u8; dst as usize * 3];
            match taps.taps {
                4 => taps.horizontal::<4>(&mid, &mut fixed),
                5 => taps.horizontal::<5>(&mid, &mut fixed),
                6 => taps.horizontal::<6>(&mid, &mut fixed),
                7 => taps.horizontal::<7>(&mid, &mut fixed),
                8 => taps.horizontal::<8>(&mid, &mut fixed),
                n => panic!("{src} → {dst}: {n} taps has no fixed-length loop"),
            }
            assert_eq!(fixed, plain, "{src} → {dst}");
        }
    }

    #[test]
    fn downscale_matches_the_image_crate_triangle_filter() {
        let (sw, sh) = (455u32, 256u32);
        let mut seed = 7u32;
        let src: Vec<u8> = (0..sw * sh * 3)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // A smooth gradient plus noise: both edges and flat areas.
                ((i % (sw * 3)) / 6) as u8 / 2 + (seed >> 28) as u8 * 8
            })
            .collect();
        for (dw, dh) in [(171, 96), (100, 57), (455, 256), (227, 128)] {
            let ours = downscale_rgb(&src, sw, sh, dw, dh);
            let img = image::RgbImage::from_raw(sw, sh, src.clone()).unwrap();
            let theirs =
                image::imageops::resize(&img, dw, dh, image::imageops::FilterType::Triangle)
                    .into_raw();
            assert_eq!(ours.len(), theirs.len());
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (*a as i32 - *b as i32).abs())
                .max()
                .unwrap();
            assert!(worst <= 2, "{dw}x{dh}: max difference {worst}");
        }
    }
}
