//! Which pictures of a video to take, and how to reach them while decoding as
//! little as possible: keyframe seeks ([`seek`]), a keyframe index when keyframes are
//! sparse ([`index`]), or decoding forward ([`forward`]). Samples are always distinct
//! pictures in increasing time.

mod forward;
mod index;
mod seek;

pub use index::keyframe_index;

use crate::pipeline::FramePipeline;
use crate::{DecodeOptions, RgbFrame};
use anyhow::{Result, anyhow, bail};
use std::path::Path;

/// How frames are picked from a video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// `n` frames spread evenly between 5 % and 95 % of the duration.
    Uniform { n: usize },
    /// Every `step`-th decoded frame (the "every Δh-th frame" sampler).
    EveryNth { step: usize, max: usize },
    /// A fixed rate in frames per second, for dense strips.
    Rate { fps: f64, max: usize },
}

impl Sampler {
    pub fn describe(&self) -> String {
        match self {
            Sampler::Uniform { n } => format!("uniform:{n}"),
            Sampler::EveryNth { step, max } => format!("every:{step}:max{max}"),
            Sampler::Rate { fps, max } => format!("rate:{fps}:max{max}"),
        }
    }

    /// Parses "uniform:16", "every:10", "rate:5".
    pub fn parse(s: &str) -> Result<Sampler> {
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or("");
        let arg = parts.next();
        let num = |a: Option<&str>, d: f64| -> Result<f64> {
            match a {
                None => Ok(d),
                Some(a) => a
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| anyhow!("bad number {a:?} in sampler {s:?}")),
            }
        };
        Ok(match kind {
            "uniform" => Sampler::Uniform {
                n: num(arg, 16.0)? as usize,
            },
            "every" => Sampler::EveryNth {
                step: num(arg, 10.0)? as usize,
                max: 2000,
            },
            "rate" => Sampler::Rate {
                fps: num(arg, 5.0)?,
                max: 2000,
            },
            _ => bail!("unknown sampler {s:?}: use uniform:N, every:H or rate:FPS"),
        })
    }
}

/// What sampling produced: the frames, and a warning if decoding stopped early.
pub struct Sampled {
    pub frames: Vec<RgbFrame>,
    pub warning: Option<String>,
    /// Decoded through the direct `demuxer ! parser ! decoder` chain (not decodebin).
    pub direct: bool,
}

/// Samples frames from a video. `short_side` is the size the frames are scaled to
/// (the model's resize before its centre crop). `hint` is the probed display size.
pub fn sample_frames(
    path: &Path,
    sampler: Sampler,
    short_side: u32,
    hint: Option<(u32, u32)>,
    opts: &DecodeOptions,
) -> Result<Sampled> {
    let demuxer = crate::direct_demuxer(path, opts);
    sample_frames_via(path, sampler, short_side, hint, demuxer, opts)
}

/// `sample_frames` through a given chain: `Some(demuxer)` tries the direct
/// `demuxer ! parser ! decoder` chain first, None uses decodebin alone. (Public for
/// the tests that check both chains give the same frames.)
pub fn sample_frames_via(
    path: &Path,
    sampler: Sampler,
    short_side: u32,
    hint: Option<(u32, u32)>,
    demuxer: Option<&str>,
    opts: &DecodeOptions,
) -> Result<Sampled> {
    if crate::container::is_gif(path) {
        return crate::gif::sample_gif(path, sampler, short_side);
    }
    let direct = demuxer.and_then(|demuxer| {
        let fp = FramePipeline::new(path, short_side, hint, Some(demuxer), opts).ok()?;
        fp.preroll().ok().map(|_| fp)
    });
    let is_direct = direct.is_some();
    let fp = match direct {
        Some(fp) => fp,
        None => {
            let fp = FramePipeline::new(path, short_side, hint, None, opts)?;
            fp.preroll()?;
            fp
        }
    };
    let duration = fp.duration_ns();
    let seekable = fp.seekable();
    let mut out = Vec::new();
    let res = match sampler {
        Sampler::Uniform { n } if n > 0 => match duration {
            Some(d) if seekable => seek::sample_uniform_seeking(&fp, path, n, d, &mut out),
            _ => forward::sample_uniform_forward(&fp, n, duration, &mut out),
        },
        Sampler::Uniform { .. } => Ok(()),
        Sampler::EveryNth { step, max } => {
            forward::sample_forward_filter(&fp, &mut out, max, |i, _| i % step.max(1) == 0)
        }
        Sampler::Rate { fps, max } => {
            let period = (1e9 / fps.max(1e-3)) as u64;
            let mut next = 0u64;
            forward::sample_forward_filter(&fp, &mut out, max, move |_, pts| {
                if pts >= next {
                    next = (pts / period + 1) * period;
                    true
                } else {
                    false
                }
            })
        }
    };
    match res {
        Ok(()) if out.is_empty() => bail!("no frame could be decoded"),
        Ok(()) => Ok(Sampled {
            frames: out,
            warning: None,
            direct: is_direct,
        }),
        Err(e) if out.is_empty() => Err(e),
        Err(e) => Ok(Sampled {
            frames: out,
            direct: is_direct,
            warning: Some(format!("decoding stopped early: {e}")),
        }),
    }
}

/// Target timestamps: evenly from 5 % to 95 % of the duration.
pub fn uniform_targets(n: usize, duration_ns: u64) -> Vec<u64> {
    let d = duration_ns as f64;
    if n == 1 {
        return vec![(0.5 * d) as u64];
    }
    (0..n)
        .map(|i| (d * (0.05 + 0.9 * i as f64 / (n - 1) as f64)) as u64)
        .collect()
}

/// True when `next` shows a different picture than `prev`, i.e. starts after `prev`
/// ends. Timestamps alone are not enough: after an accurate seek GStreamer clips the
/// frame on screen at the target, so the same picture comes back with its timestamp
/// moved to the target and a shortened duration.
pub fn is_new_frame(prev: Option<&RgbFrame>, next: &RgbFrame) -> bool {
    let Some(p) = prev else { return true };
    match p.duration_ns {
        // A little slack for rounded durations (29.97 fps and the like).
        Some(d) => next.pts_ns + (d / 4).min(1_000_000) >= p.pts_ns + d,
        None => next.pts_ns > p.pts_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_span_five_to_ninety_five_percent() {
        let t = uniform_targets(16, 100_000);
        assert_eq!(t.len(), 16);
        assert_eq!(t[0], 5_000);
        assert_eq!(t[15], 95_000);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sampler_parsing() {
        assert_eq!(
            Sampler::parse("uniform:8").unwrap(),
            Sampler::Uniform { n: 8 }
        );
        assert!(matches!(
            Sampler::parse("rate:5").unwrap(),
            Sampler::Rate { .. }
        ));
        assert!(Sampler::parse("bogus").is_err());
    }
}
