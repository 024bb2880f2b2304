//! GStreamer: probing files and sampling frames from them. The media stage never sees
//! the catalogue: it reads files and gives back pictures and facts about them.
//!
//! In the order a file goes through them: [`container`] (what a file is, from its
//! name and first bytes), [`probe`] (duration, size, codec), [`pipeline`] (the
//! GStreamer chain that decodes and scales), [`sample`] (which pictures to take and
//! how to reach them cheaply), [`gif`] (animated GIFs, decoded without GStreamer) and
//! [`thumbs`] (posters, thumbnails, a fast resize).
//!
//! Frames are scaled inside the pipeline (so that full-resolution RGB never has to be
//! produced) to the size the model's preprocessing wants before its centre crop.

pub mod container;
pub mod gif;
pub mod pipeline;
pub mod probe;
pub mod sample;
pub mod thumbs;

pub use pipeline::{direct_demuxer, file_uri, hardware_decoders, scaled_size};
pub use probe::{Probe, probe};
pub use sample::{Sampled, Sampler, sample_frames, sample_frames_via};
pub use thumbs::{choose_poster, encode_jpeg};

use anyhow::{Result, anyhow};
use gstreamer as gst;
use std::sync::OnceLock;

/// How videos are decoded; the front end fills it from its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Let decodebin pick the hardware decoders GStreamer registered here (VA-API,
    /// NVIDIA). GStreamer's registry is one per process: the first pipeline's choice
    /// holds for the rest of the process.
    pub hardware: bool,
    /// Decode MP4, Matroska/WebM and AVI through a chain built directly (`demuxer !
    /// parser ! decoder`) instead of decodebin: the same pictures for less CPU.
    pub direct_chain: bool,
    /// Threads per decoder; 0 lets libav choose (one per core).
    pub decoder_threads: u32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            hardware: true,
            direct_chain: true,
            decoder_threads: 0,
        }
    }
}

/// What the media probe learnt about a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    pub duration_ms: Option<i64>,
    pub container: Option<String>,
    pub codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    pub seekable: bool,
}

static GST_INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Initialises GStreamer once per process (decoding with `DecodeOptions::default()`
/// preferences unless a pipeline was built with others first).
pub fn init() -> Result<()> {
    init_with(&DecodeOptions::default())
}

/// Initialises GStreamer once per process; the first call's hardware preference holds.
pub fn init_with(opts: &DecodeOptions) -> Result<()> {
    GST_INIT
        .get_or_init(|| {
            gst::init().map_err(|e| e.to_string())?;
            if opts.hardware {
                pipeline::prefer_hardware_decoders();
            }
            Ok(())
        })
        .clone()
        .map_err(|e| anyhow!("GStreamer could not be initialised: {e}"))
}

/// A decoded frame: tightly packed RGB, 8 bits per channel.
#[derive(Clone)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    /// Presentation timestamp in nanoseconds from the start of the stream.
    pub pts_ns: u64,
    /// How long the frame is shown, when the stream says.
    pub duration_ns: Option<u64>,
}

impl RgbFrame {
    pub fn ts_ms(&self) -> i64 {
        (self.pts_ns / 1_000_000) as i64
    }

    /// Mean and standard deviation of luma, used to skip black or flat poster frames.
    pub fn luma_stats(&self) -> (f32, f32) {
        let mut sum = 0f64;
        let mut sum2 = 0f64;
        let mut n = 0f64;
        // Every 7th pixel is plenty for a global statistic.
        for px in self.data.chunks_exact(3).step_by(7) {
            let y = 0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64;
            sum += y;
            sum2 += y * y;
            n += 1.0;
        }
        if n == 0.0 {
            return (0.0, 0.0);
        }
        let mean = sum / n;
        let var = (sum2 / n - mean * mean).max(0.0);
        (mean as f32, var.sqrt() as f32)
    }
}
