//! The dense frame index: every video's frames at a fixed rate (1 fps, more for
//! short videos), as compact codes, for finding where footage appears again.
//!
//! A frame's network feature (1280 values) is projected on 256 fixed random
//! orthonormal directions and quantised to one signed byte each, scaled to its
//! largest value: 256 bytes a frame. Similarities come out within a few hundredths
//! of the full feature's, closest for the near-identical pictures this is for. The projection is the same for every library and every run (a fixed
//! seed), so codes stored once stay comparable. Frames that show nothing (near-black,
//! flat) are flagged: they must not make two videos look alike.
//!
//! Beside the code, each frame keeps its *layout*: the brightness of a 16 × 16 grid
//! over the whole picture. Heavy compression (a few hundred kbps) changes what the
//! network sees, down to cosines of 0.45 for the same moment, but keeps the average
//! of each block almost exactly: on the find benchmark's x264 CRF 40-46 copies the
//! layouts of the same moment correlate at 0.99, those of other footage at 0.75 at
//! most. Crops change the layout; the code still matches those.

use crate::progress::{Cancel, Event, Progress};
use crate::store::{Catalogue, VideoRow, VideoStatus};
use anyhow::Result;
use reelmap_media::{self as media, DecodeOptions, RgbFrame, Sampler};
use reelmap_model::Embedder;
use std::sync::OnceLock;

/// Dimensions of a stored code.
pub const CODE_DIMS: usize = 256;
/// Frames per second of the index (short videos get more, see [`rate_for`]).
pub const BASE_FPS: f64 = 1.0;
/// A video gets at least this many frames (up to [`MAX_FPS`]).
const MIN_FRAMES: f64 = 10.0;
const MAX_FPS: f64 = 4.0;
/// At most this many frames per video (one hour at 1 fps); longer videos get a lower
/// rate.
const MAX_FRAMES: usize = 3600;
const FEATURE_DIMS: usize = 1280;
/// Cells on each side of a frame's layout grid.
pub const LAYOUT_SIDE: usize = 16;
/// Bytes of a stored layout.
pub const LAYOUT_DIMS: usize = LAYOUT_SIDE * LAYOUT_SIDE;

/// The sampling rate of a video of this duration.
pub fn rate_for(duration_s: f64) -> f64 {
    if duration_s.is_nan() || duration_s <= 0.0 {
        return BASE_FPS;
    }
    (MIN_FRAMES / duration_s)
        .clamp(BASE_FPS, MAX_FPS)
        .min(MAX_FRAMES as f64 / duration_s)
}

/// The fixed projection, `FEATURE_DIMS` × `CODE_DIMS` row-major: Gaussian columns
/// made orthonormal (Gram-Schmidt), from a fixed seed.
fn projection() -> &'static [f32] {
    static P: OnceLock<Vec<f32>> = OnceLock::new();
    P.get_or_init(|| {
        let mut rng = reelmap_numeric::SplitMix64::from_state(0x0DE5_E1DE_C0DE);
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(CODE_DIMS);
        for _ in 0..CODE_DIMS {
            let mut v: Vec<f64> = (0..FEATURE_DIMS).map(|_| rng.normal()).collect();
            for u in &cols {
                let d: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
            }
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            cols.push(v);
        }
        let mut out = vec![0f32; FEATURE_DIMS * CODE_DIMS];
        for (j, c) in cols.iter().enumerate() {
            for (i, &x) in c.iter().enumerate() {
                out[i * CODE_DIMS + j] = x as f32;
            }
        }
        out
    })
}

/// The code of a frame feature (any length up to 1280; missing values are zero).
pub fn encode(feature: &[f32]) -> [i8; CODE_DIMS] {
    let p = projection();
    let mut y = [0f32; CODE_DIMS];
    for (i, &x) in feature.iter().take(FEATURE_DIMS).enumerate() {
        if x != 0.0 {
            let row = &p[i * CODE_DIMS..(i + 1) * CODE_DIMS];
            y.iter_mut().zip(row).for_each(|(a, b)| *a += x * b);
        }
    }
    quantise(&y)
}

/// A projected feature ([`CODE_DIMS`] values) as bytes, scaled to its largest value.
pub fn quantise(y: &[f32]) -> [i8; CODE_DIMS] {
    let max = y.iter().take(CODE_DIMS).fold(0f32, |m, v| m.max(v.abs()));
    let mut code = [0i8; CODE_DIMS];
    if max > 0.0 {
        for (c, v) in code.iter_mut().zip(y) {
            *c = (v * 127.0 / max).round().clamp(-127.0, 127.0) as i8;
        }
    }
    code
}

/// A code as a unit-length vector.
pub fn decode(code: &[i8]) -> Vec<f32> {
    let mut v: Vec<f32> = code.iter().map(|&c| c as f32).collect();
    reelmap_numeric::l2_normalize(&mut v);
    v
}

/// Whether a picture shows something (not near-black, near-white or flat). Looser
/// than the poster's rule (contrast above 12): a grey road at dusk has a contrast of
/// 9-13 and loses a point or two to compression, and a copy whose frames fall on
/// the other side of the line would not cover its original.
pub fn informative(frame: &RgbFrame) -> bool {
    let (mean, std) = frame.luma_stats();
    mean > 24.0 && mean < 235.0 && std > 6.0
}

/// A picture's layout: the mean brightness of each cell of a [`LAYOUT_SIDE`]²
/// grid over the whole frame (so a resized copy has the same one), less the
/// picture's mean, as signed bytes scaled to the largest value. All zeros for a flat
/// picture.
pub fn layout(frame: &RgbFrame) -> [i8; LAYOUT_DIMS] {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut sums = [0f64; LAYOUT_DIMS];
    let mut counts = [0u32; LAYOUT_DIMS];
    if w == 0 || h == 0 || frame.data.len() < w * h * 3 {
        return [0; LAYOUT_DIMS];
    }
    let cols: Vec<usize> = (0..w).map(|x| x * LAYOUT_SIDE / w).collect();
    for y in 0..h {
        let cell_row = y * LAYOUT_SIDE / h * LAYOUT_SIDE;
        let row = &frame.data[y * w * 3..(y + 1) * w * 3];
        for (px, &c) in row.chunks_exact(3).zip(&cols) {
            sums[cell_row + c] +=
                0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64;
            counts[cell_row + c] += 1;
        }
    }
    let mut cells = [0f32; LAYOUT_DIMS];
    for ((c, s), n) in cells.iter_mut().zip(&sums).zip(&counts) {
        *c = (*s / (*n).max(1) as f64) as f32;
    }
    let mean = cells.iter().sum::<f32>() / LAYOUT_DIMS as f32;
    cells.iter_mut().for_each(|c| *c -= mean);
    // Less than one grey level everywhere: flat, nothing to compare.
    if cells.iter().all(|c| c.abs() < 1.0) {
        return [0; LAYOUT_DIMS];
    }
    let mut out = [0i8; LAYOUT_DIMS];
    let max = cells.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (o, c) in out.iter_mut().zip(&cells) {
        *o = (c * 127.0 / max).round().clamp(-127.0, 127.0) as i8;
    }
    out
}

/// One video's dense frames.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseFrames {
    pub fps: f64,
    /// Timestamps, ms.
    pub times: Vec<u32>,
    /// `times.len()` codes of [`CODE_DIMS`] bytes.
    pub codes: Vec<i8>,
    pub informative: Vec<bool>,
    /// `times.len()` layouts of [`LAYOUT_DIMS`] bytes, or none (frames made without
    /// pictures, e.g. synthetic ones).
    pub layouts: Vec<i8>,
}

impl DenseFrames {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    pub fn code(&self, i: usize) -> &[i8] {
        &self.codes[i * CODE_DIMS..(i + 1) * CODE_DIMS]
    }

    /// Every frame as a unit vector.
    pub fn vectors(&self) -> Vec<Vec<f32>> {
        (0..self.len()).map(|i| decode(self.code(i))).collect()
    }

    pub fn has_layouts(&self) -> bool {
        !self.is_empty() && self.layouts.len() == self.len() * LAYOUT_DIMS
    }

    /// Every frame's layout as a unit vector (zero for a flat picture), if known.
    pub fn layout_vectors(&self) -> Option<Vec<Vec<f32>>> {
        self.has_layouts()
            .then(|| self.layouts.chunks_exact(LAYOUT_DIMS).map(decode).collect())
    }

    /// The mean layout of the informative frames, as a unit vector: what the
    /// duplicate search compares first to find copies the codes miss.
    pub fn mean_layout(&self) -> Option<Vec<f32>> {
        let layouts = self.layout_vectors()?;
        let mut sum = vec![0f32; LAYOUT_DIMS];
        let mut n = 0;
        for (l, _) in layouts.iter().zip(&self.informative).filter(|(_, i)| **i) {
            sum.iter_mut().zip(l).for_each(|(s, x)| *s += x);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        reelmap_numeric::l2_normalize(&mut sum);
        sum.iter().any(|x| *x != 0.0).then_some(sum)
    }

    /// Seconds of informative frames.
    pub fn informative_seconds(&self) -> f64 {
        self.informative.iter().filter(|i| **i).count() as f64 / self.fps.max(1e-6)
    }
}

/// Samples a file at `fps` and runs the network on its frames: the dense frames of
/// one video (also of a clip that is not in the catalogue).
pub fn dense_frames_of(
    path: &std::path::Path,
    fps: f64,
    embedder: &Embedder,
    decode_opts: &DecodeOptions,
    batch: usize,
) -> Result<DenseFrames> {
    let sampled = media::sample_frames(
        path,
        Sampler::Rate {
            fps,
            max: MAX_FRAMES,
        },
        embedder.resize_short(),
        None,
        decode_opts,
    )?;
    let mut out = DenseFrames {
        fps,
        times: Vec::with_capacity(sampled.frames.len()),
        codes: Vec::with_capacity(sampled.frames.len() * CODE_DIMS),
        informative: Vec::with_capacity(sampled.frames.len()),
        layouts: Vec::with_capacity(sampled.frames.len() * LAYOUT_DIMS),
    };
    for chunk in sampled.frames.chunks(batch.max(1)) {
        let inputs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|f| embedder.preprocess(f.width, f.height, &f.data))
            .collect();
        let result = embedder.embed(&inputs)?;
        for (f, feature) in chunk.iter().zip(result.features) {
            out.times.push(f.ts_ms().clamp(0, u32::MAX as i64) as u32);
            out.codes.extend(encode(&feature));
            out.informative.push(informative(f));
            out.layouts.extend(layout(f));
        }
    }
    Ok(out)
}

/// The dense frames of another file with the same content, if one is indexed.
fn indexed_copy(cat: &Catalogue, v: &VideoRow, model: &str) -> Result<Option<DenseFrames>> {
    let Some(fp) = v.fingerprint.as_deref() else {
        return Ok(None);
    };
    for other in cat.videos_with_fingerprint(fp)? {
        if other.id != v.id
            && let Some(d) = cat.dense_frames(other.id, model)?
            && d.has_layouts()
        {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// What [`index_library`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct IndexReport {
    pub videos: usize,
    pub indexed: usize,
    pub frames: usize,
    pub failed: usize,
    pub seconds: f64,
    pub cancelled: bool,
}

/// Adds the dense frames of every usable video that has none yet for this model.
/// A video that cannot be sampled is skipped (it keeps its 16 frames; the reason is
/// reported); the run goes on.
pub fn index_library(
    cat: &mut Catalogue,
    embedder: &Embedder,
    decode_opts: &DecodeOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<IndexReport> {
    let started = std::time::Instant::now();
    let model = embedder.name().to_string();
    let todo: Vec<VideoRow> = cat.videos_needing_dense_frames(&model)?;
    let mut report = IndexReport {
        videos: todo.len(),
        ..Default::default()
    };
    let stage = "index".to_string();
    progress.event(Event::Stage {
        stage: stage.clone(),
        total: todo.len() as u64,
    });
    for (i, v) in todo.iter().enumerate() {
        if cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        if v.status != VideoStatus::Ok {
            continue;
        }
        // A copy of an indexed file (same content fingerprint) gets its frames
        // without being decoded again.
        if let Some(d) = indexed_copy(cat, v, &model)? {
            report.frames += d.len();
            cat.store_dense_frames(v.id, &model, &d)?;
            report.indexed += 1;
            progress.event(Event::Item {
                stage: stage.clone(),
                done: i as u64 + 1,
                total: todo.len() as u64,
                current: v.display.clone(),
            });
            continue;
        }
        let fps = rate_for(v.duration_ms.unwrap_or(0) as f64 / 1000.0);
        match dense_frames_of(&v.path, fps, embedder, decode_opts, 8) {
            Ok(d) => {
                report.frames += d.len();
                cat.store_dense_frames(v.id, &model, &d)?;
                report.indexed += 1;
            }
            Err(e) => {
                report.failed += 1;
                progress.event(Event::Failed {
                    stage: stage.clone(),
                    path: v.display.clone(),
                    reason: format!("cannot index: {e:#}"),
                });
            }
        }
        progress.event(Event::Item {
            stage: stage.clone(),
            done: i as u64 + 1,
            total: todo.len() as u64,
            current: v.display.clone(),
        });
    }
    progress.event(Event::StageDone { stage });
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_cosine_similarities() {
        let mut rng = reelmap_numeric::SplitMix64::seeded(3);
        let mut unit = |base: Option<&Vec<f32>>, spread: f32| -> Vec<f32> {
            let mut v: Vec<f32> = (0..FEATURE_DIMS)
                .map(|i| base.map_or(0.0, |b| b[i]) + spread * rng.normal() as f32)
                .collect();
            reelmap_numeric::l2_normalize(&mut v);
            v
        };
        for _ in 0..20 {
            let a = unit(None, 1.0);
            let b = unit(Some(&a), 0.01);
            let c = unit(None, 1.0);
            let (ca, cb, cc) = (
                decode(&encode(&a)),
                decode(&encode(&b)),
                decode(&encode(&c)),
            );
            let full_ab = reelmap_numeric::dot(&a, &b);
            let code_ab = reelmap_numeric::dot(&ca, &cb);
            // Close pairs stay close, unrelated ones stay apart.
            assert!((full_ab - code_ab).abs() < 0.03, "{full_ab} vs {code_ab}");
            assert!(reelmap_numeric::dot(&ca, &cc).abs() < 0.3);
        }
        // The projection is fixed: the same code on every call.
        let a = unit(None, 1.0);
        assert_eq!(encode(&a), encode(&a));
    }

    /// A picture of `w` × `h` drawn by `f(x, y)` in 0..1 coordinates (grey levels).
    fn picture(w: u32, h: u32, f: impl Fn(f64, f64) -> f64) -> RgbFrame {
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let v = f(x as f64 / w as f64, y as f64 / h as f64).clamp(0.0, 255.0) as u8;
                data.extend([v, v, v]);
            }
        }
        RgbFrame {
            width: w,
            height: h,
            data,
            pts_ns: 0,
            duration_ns: None,
        }
    }

    fn layout_cosine(a: &RgbFrame, b: &RgbFrame) -> f32 {
        reelmap_numeric::dot(&decode(&layout(a)), &decode(&layout(b)))
    }

    #[test]
    fn layouts_survive_resizing_and_block_noise_but_tell_pictures_apart() {
        let scene = |x: f64, y: f64| 60.0 + 120.0 * (3.0 * x).sin().abs() + 70.0 * y;
        let original = picture(320, 240, scene);
        // Half the size, with 8 × 8 blocks flattened to their corner's value and
        // noise on top: what a very low bitrate does to the picture.
        let mut rng = reelmap_numeric::SplitMix64::seeded(5);
        let mut degraded = picture(160, 120, |x, y| {
            let (bx, by) = (
                (x * 160.0 / 8.0).floor() * 8.0 / 160.0,
                (y * 120.0 / 8.0).floor() * 8.0 / 120.0,
            );
            scene(bx, by)
        });
        degraded.data.iter_mut().for_each(|p| {
            *p = (*p as f64 + 12.0 * rng.normal()).clamp(0.0, 255.0) as u8;
        });
        assert!(layout_cosine(&original, &degraded) > 0.97);
        // Another picture (the same colours, another arrangement).
        let other = picture(320, 240, |x, y| scene(y, 1.0 - x));
        assert!(layout_cosine(&original, &other) < 0.5);
        // A flat picture has no layout.
        assert!(
            layout(&picture(64, 48, |_, _| 128.0))
                .iter()
                .all(|c| *c == 0)
        );
    }

    #[test]
    fn rates_give_short_videos_enough_frames() {
        assert_eq!(rate_for(60.0), 1.0);
        assert_eq!(rate_for(5.0), 2.0);
        assert_eq!(rate_for(1.0), 4.0);
        assert!((rate_for(7200.0) - 0.5).abs() < 1e-9);
        assert_eq!(rate_for(0.0), 1.0);
    }
}
