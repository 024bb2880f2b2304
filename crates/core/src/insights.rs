//! What the UI shows about videos beyond their cluster: nearest videos, change
//! points of the feature time series ("keyframes"), feature-image strips, and the
//! stored 2-D maps of videos and frames.

use crate::clustering;
use crate::store::Catalogue;
use crate::util::dot;
use anyhow::Result;
use std::collections::HashMap;

/// The `k` videos most similar to `video_id` in the clustering space.
pub fn nearest(cat: &Catalogue, model: &str, video_id: i64, k: usize) -> Result<Vec<(i64, f32)>> {
    let pts = clustering::load_points(cat, model)?;
    let Some(i) = pts.ids.iter().position(|&v| v == video_id) else {
        return Ok(vec![]);
    };
    let data = clustering::points_in_library_space(cat, model, &pts)?;
    let mut sims: Vec<(i64, f32)> = pts
        .ids
        .iter()
        .zip(&data)
        .filter(|(v, _)| **v != video_id)
        .map(|(v, d)| (*v, dot(d, &data[i])))
        .collect();
    sims.sort_by(|a, b| b.1.total_cmp(&a.1));
    sims.truncate(k);
    Ok(sims)
}

/// A point where the content changes: between frame `idx - 1` and `idx`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangePoint {
    pub idx: usize,
    pub ts_ms: i64,
    /// Cosine distance between the two frames' features.
    pub score: f32,
}

/// Change points of a feature time series: steps whose cosine distance stands out
/// (above mean + 1.5 standard deviations of the video's own steps, and above an
/// absolute floor so that a static video has none). The first frame always counts
/// as a keyframe of the video's first scene and is returned with score 0.
pub fn change_points(frames: &[(i64, Vec<f32>)]) -> Vec<ChangePoint> {
    let mut out = Vec::new();
    if let Some((ts, _)) = frames.first() {
        out.push(ChangePoint {
            idx: 0,
            ts_ms: *ts,
            score: 0.0,
        });
    }
    if frames.len() < 3 {
        return out;
    }
    let d: Vec<f32> = frames
        .windows(2)
        .map(|w| 1.0 - dot(&w[0].1, &w[1].1))
        .collect();
    let mean = d.iter().sum::<f32>() / d.len() as f32;
    let var = d.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / d.len() as f32;
    let threshold = (mean + 1.5 * var.sqrt()).max(0.12);
    for (i, &x) in d.iter().enumerate() {
        let local_peak = (i == 0 || x >= d[i - 1]) && (i + 1 == d.len() || x >= d[i + 1]);
        if x > threshold && local_peak {
            out.push(ChangePoint {
                idx: i + 1,
                ts_ms: frames[i + 1].0,
                score: x,
            });
        }
    }
    out
}

/// Per-dimension scaling of frame features across the library, so that a strip's
/// colours mean the same thing in every video: the 1st and 99th percentiles of each
/// dimension over (a sample of) all frames map to 0 and 1.
#[derive(Debug, Clone)]
pub struct StripScale {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
    /// Frames in the library when computed (to know when to recompute).
    pub frames: i64,
}

pub fn strip_scale(cat: &Catalogue, model: &str) -> Result<StripScale> {
    let frames = cat.frame_count(model)?;
    // Every n-th frame, at most ~4000 frames.
    let step = (frames / 4000).max(1);
    let mut cols: Vec<Vec<f32>> = Vec::new();
    for f in cat.frame_feature_sample(model, step)? {
        if cols.is_empty() {
            cols = vec![Vec::new(); f.len()];
        }
        for (c, x) in cols.iter_mut().zip(f) {
            c.push(x);
        }
    }
    let mut lo = Vec::with_capacity(cols.len());
    let mut hi = Vec::with_capacity(cols.len());
    for mut c in cols {
        c.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f32| c[((c.len() - 1) as f32 * p) as usize];
        let (a, b) = (q(0.01), q(0.99));
        lo.push(a);
        hi.push(if b > a { b } else { a + 1e-6 });
    }
    Ok(StripScale { lo, hi, frames })
}

/// Viridis-like colour map (perceptually ordered, readable for colour-blind people),
/// by linear interpolation between 9 anchors of matplotlib's viridis.
fn viridis(t: f32) -> [u8; 3] {
    const C: [[f32; 3]; 9] = [
        [68.0, 1.0, 84.0],
        [71.0, 44.0, 122.0],
        [59.0, 81.0, 139.0],
        [44.0, 113.0, 142.0],
        [33.0, 144.0, 141.0],
        [39.0, 173.0, 129.0],
        [92.0, 200.0, 99.0],
        [170.0, 220.0, 50.0],
        [253.0, 231.0, 37.0],
    ];
    let t = t.clamp(0.0, 1.0) * 8.0;
    let i = (t.floor() as usize).min(7);
    let f = t - i as f32;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (C[i][k] + (C[i + 1][k] - C[i][k]) * f).round() as u8;
    }
    out
}

/// The feature-image strip of a video as PNG: one row band per sampled frame (time
/// downwards), one column per feature dimension, each dimension scaled with the
/// library-wide `scale`.
pub fn strip_png(frames: &[(i64, Vec<f32>)], scale: &StripScale, row_px: u32) -> Result<Vec<u8>> {
    let dims = frames.first().map(|f| f.1.len()).unwrap_or(0).max(1) as u32;
    let rows = frames.len().max(1) as u32;
    let mut img = image::RgbImage::new(dims, rows * row_px);
    for (r, (_, f)) in frames.iter().enumerate() {
        for (c, &x) in f.iter().enumerate() {
            let (lo, hi) = (
                scale.lo.get(c).copied().unwrap_or(0.0),
                scale.hi.get(c).copied().unwrap_or(1.0),
            );
            let rgb = viridis((x - lo) / (hi - lo));
            for y in 0..row_px {
                img.put_pixel(c as u32, r as u32 * row_px + y, image::Rgb(rgb));
            }
        }
    }
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

/// Video id → cluster id, for colouring maps.
pub fn cluster_of_videos(cat: &Catalogue) -> Result<HashMap<i64, i64>> {
    Ok(cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, a.cluster_id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::util::l2_normalize(&mut v);
        v
    }

    #[test]
    fn change_points_find_the_cut() {
        let a = unit(&[1.0, 0.1, 0.0]);
        let b = unit(&[0.0, 0.1, 1.0]);
        let frames: Vec<(i64, Vec<f32>)> = (0..10)
            .map(|i| (i * 100, if i < 6 { a.clone() } else { b.clone() }))
            .collect();
        let cp = change_points(&frames);
        assert_eq!(cp.iter().map(|c| c.idx).collect::<Vec<_>>(), vec![0, 6]);
        assert_eq!(cp[1].ts_ms, 600);
        // A static video has only its first keyframe.
        let still: Vec<(i64, Vec<f32>)> = (0..10).map(|i| (i, a.clone())).collect();
        assert_eq!(change_points(&still).len(), 1);
    }

    #[test]
    fn strip_png_has_one_band_per_frame() {
        let frames: Vec<(i64, Vec<f32>)> = (0..4).map(|i| (i, vec![i as f32; 8])).collect();
        let scale = StripScale {
            lo: vec![0.0; 8],
            hi: vec![3.0; 8],
            frames: 4,
        };
        let png = strip_png(&frames, &scale, 5).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (8, 20));
        assert_eq!(img.get_pixel(0, 0).0, [68, 1, 84]);
        assert_eq!(img.get_pixel(0, 19).0, [253, 231, 37]);
    }
}
