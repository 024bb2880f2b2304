//! Animated GIFs. GStreamer's GIF path (libav's demuxer) stalls on many real GIFs
//! ("invalid block label" and no EOS), so GIFs are decoded with the `image` crate,
//! which composes each frame with its disposal rules.

use crate::probe::Probe;
use crate::sample::{Sampled, Sampler, uniform_targets};
use crate::{MediaInfo, RgbFrame, scaled_size};
use anyhow::{Context, Result, bail};
use std::path::Path;

fn gif_frames(path: &Path) -> Result<image::Frames<'static>> {
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let decoder = image::codecs::gif::GifDecoder::new(file).context("not a readable GIF")?;
    Ok(decoder.into_frames())
}

fn delay_ns(f: &image::Frame) -> u64 {
    let (num, den) = f.delay().numer_denom_ms();
    // Browsers show 0-delay frames for 100 ms; do the same.
    let ms = if num == 0 {
        100.0
    } else {
        num as f64 / den.max(1) as f64
    };
    (ms * 1e6) as u64
}

pub(crate) fn probe_gif(path: &Path) -> Result<Probe> {
    let mut n = 0u64;
    let mut total = 0u64;
    let mut dims = (0, 0);
    let frames = match gif_frames(path) {
        Ok(f) => f,
        Err(e) => return Ok(Probe::Failed(format!("cannot read GIF: {e:#}"))),
    };
    for f in frames {
        match f {
            Ok(f) => {
                dims = f.buffer().dimensions();
                total += delay_ns(&f);
                n += 1;
            }
            Err(e) if n == 0 => return Ok(Probe::Failed(format!("cannot decode GIF: {e}"))),
            Err(_) => break,
        }
    }
    if n < 2 {
        return Ok(Probe::NotVideo(
            "a still GIF image, not an animation".into(),
        ));
    }
    Ok(Probe::Video(MediaInfo {
        duration_ms: Some((total / 1_000_000) as i64),
        container: Some("GIF".into()),
        codec: Some("GIF animation".into()),
        width: Some(dims.0 as i64),
        height: Some(dims.1 as i64),
        fps: Some(n as f64 / (total as f64 / 1e9).max(1e-3)),
        seekable: false,
    }))
}

pub(crate) fn sample_gif(path: &Path, sampler: Sampler, short_side: u32) -> Result<Sampled> {
    // Pass 1: timestamps only (frames are not kept, so memory stays small).
    let mut stamps = Vec::new();
    let mut t = 0u64;
    for f in gif_frames(path)? {
        let Ok(f) = f else { break };
        stamps.push(t);
        t += delay_ns(&f);
    }
    if stamps.is_empty() {
        bail!("no frame could be decoded");
    }
    let wanted: Vec<usize> = match sampler {
        Sampler::Uniform { n } => {
            let mut picks = Vec::new();
            for target in uniform_targets(n.max(1), t) {
                // First frame at or after the target, never the same frame twice.
                let i = stamps
                    .iter()
                    .position(|&s| s >= target)
                    .unwrap_or(stamps.len() - 1);
                if picks.last().is_none_or(|&l| i > l) {
                    picks.push(i);
                }
            }
            picks
        }
        Sampler::EveryNth { step, max } => {
            (0..stamps.len()).step_by(step.max(1)).take(max).collect()
        }
        Sampler::Rate { fps, max } => {
            let period = (1e9 / fps.max(1e-3)) as u64;
            let mut next = 0;
            let mut picks = Vec::new();
            for (i, &s) in stamps.iter().enumerate() {
                if s >= next && picks.len() < max {
                    picks.push(i);
                    next = (s / period + 1) * period;
                }
            }
            picks
        }
    };
    // Pass 2: decode and keep the picked frames, scaled like the video path.
    let mut out = Vec::with_capacity(wanted.len());
    let mut warning = None;
    for (i, f) in gif_frames(path)?.enumerate() {
        if out.len() == wanted.len() {
            break;
        }
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                warning = Some(format!("decoding stopped early: {e}"));
                break;
            }
        };
        if !wanted.contains(&i) {
            continue;
        }
        let rgb = image::DynamicImage::ImageRgba8(f.into_buffer()).to_rgb8();
        let (w, h) = scaled_size(rgb.width(), rgb.height(), short_side);
        let rgb = image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle);
        out.push(RgbFrame {
            width: w,
            height: h,
            data: rgb.into_raw(),
            pts_ns: stamps[i],
            duration_ns: stamps.get(i + 1).map(|n| n - stamps[i]),
        });
    }
    if out.is_empty() {
        bail!("no frame could be decoded");
    }
    Ok(Sampled {
        frames: out,
        warning,
        direct: false,
    })
}
