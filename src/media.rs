//! GStreamer: probing files and sampling frames from them.
//!
//! Frames are scaled inside the pipeline (so that full-resolution RGB never has to be
//! produced) to the size the model's preprocessing wants before its centre crop.

use crate::store::MediaInfo;
use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gst_pbutils::prelude::*;
use gst_video::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_pbutils as gst_pbutils;
use gstreamer_video as gst_video;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static GST_INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Initialises GStreamer once per process.
pub fn init() -> Result<()> {
    GST_INIT
        .get_or_init(|| {
            gst::init().map_err(|e| e.to_string())?;
            if std::env::var("REELMAP_HW_DECODE").as_deref() != Ok("0") {
                prefer_hardware_decoders();
            }
            Ok(())
        })
        .clone()
        .map_err(|e| anyhow!("GStreamer could not be initialised: {e}"))
}

/// Hardware decoders that GStreamer 1.22 registers only when their device works (VA-API
/// through the `va` plugin, NVIDIA through `nvcodec`), but with a rank too low for
/// decodebin to pick them. Raising their rank above the software decoders makes
/// decodebin use them automatically where present; their output is copied to system
/// memory by the normal caps negotiation with `videoconvertscale`.
/// `REELMAP_HW_DECODE=0` keeps the software decoders.
const HARDWARE_DECODERS: &[&str] = &[
    "vah264dec",
    "vah265dec",
    "vavp8dec",
    "vavp9dec",
    "vaav1dec",
    "vampeg2dec",
    "nvh264dec",
    "nvh265dec",
    "nvvp8dec",
    "nvvp9dec",
    "nvav1dec",
    "nvmpeg2videodec",
];

/// The hardware decoders GStreamer has registered here.
fn registered_hardware_decoders() -> Vec<gst::PluginFeature> {
    let registry = gst::Registry::get();
    HARDWARE_DECODERS
        .iter()
        .filter_map(|n| registry.find_feature(n, gst::ElementFactory::static_type()))
        .collect()
}

fn prefer_hardware_decoders() {
    for f in registered_hardware_decoders() {
        f.set_rank(gst::Rank::PRIMARY + 1);
    }
}

/// Names of the hardware decoders this machine offers (for `reelmap bench` and logs).
pub fn hardware_decoders() -> Vec<String> {
    if init().is_err() {
        return vec![];
    }
    registered_hardware_decoders()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}

/// Threads per decoder; 0 lets libav choose (one per core).
static DECODER_THREADS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Tells the sampler how many videos the caller decodes at once. With several, each
/// decoder gets one thread: the cores are already busy with the other videos, and
/// frame-threaded decoders must drain and refill their threads at every seek. Measured
/// on the 200-video benchmark corpus (2 cores, 2 videos at once): 180-200 → 257-270
/// sampled frames/s, with less CPU time. `REELMAP_DECODER_THREADS=N` overrides.
pub fn set_parallel_videos(n: usize) {
    DECODER_THREADS.store(if n >= 2 { 1 } else { 0 }, Ordering::Relaxed);
}

fn decoder_threads() -> i32 {
    std::env::var("REELMAP_DECODER_THREADS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| DECODER_THREADS.load(Ordering::Relaxed))
        .max(0)
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

/// Output size for a frame of `w`×`h` (display aspect) whose short side becomes `short`.
pub fn scaled_size(w: u32, h: u32, short: u32) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (short, short);
    }
    let (w, h) = (w as f64, h as f64);
    let s = short as f64 / w.min(h);
    let sw = ((w * s).round() as u32).max(short);
    let sh = ((h * s).round() as u32).max(short);
    // Even sizes keep every converter happy.
    (sw + (sw & 1), sh + (sh & 1))
}

pub fn file_uri(path: &Path) -> Result<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    Ok(gst::glib::filename_to_uri(&abs, None)
        .map_err(|e| anyhow!("cannot make a URI for {}: {e}", abs.display()))?
        .to_string())
}

/// Result of probing one file.
#[derive(Debug)]
pub enum Probe {
    Video(MediaInfo),
    /// Not a video at all (an image, audio only, or unknown data).
    NotVideo(String),
    /// Looks like media but cannot be used (missing decoder, broken header, timeout).
    Failed(String),
}

/// Probes a file: container, codec, size, rate, duration. Containers the direct decode
/// chain reads get [`probe_quick`]; everything else, and anything the quick probe cannot
/// vouch for, GStreamer's discoverer.
pub fn probe(path: &Path, timeout: Duration) -> Result<Probe> {
    if is_gif(path) {
        return probe_gif(path);
    }
    if let Some(info) = probe_quick(path, timeout) {
        return Ok(Probe::Video(info));
    }
    probe_with_discoverer(path, timeout)
}

/// The quick probe, for MP4, Matroska/WebM and AVI (the containers of
/// [`direct_demuxer`]): type finding, the demuxer and the video stream's parser, but no
/// decoder. The discoverer decodes a first picture, which on the benchmark's 10 s clips
/// is ~8 ms of CPU per file, most of the first scan. None, for the discoverer to
/// decide, unless the file prerolls, has a video stream with a size and a duration, and
/// an installed decoder accepts that stream; decoding problems beyond the first picture
/// show up when the frames are sampled, where they are recorded as well.
pub fn probe_quick(path: &Path, timeout: Duration) -> Option<MediaInfo> {
    use std::sync::Mutex;
    let demuxer = direct_demuxer(path)?;
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_path_buf())
        .build()
        .ok()?;
    let typefind = gst::ElementFactory::make("typefind").build().ok()?;
    let demux = gst::ElementFactory::make(demuxer).build().ok()?;
    pipeline.add_many([&src, &typefind, &demux]).ok()?;
    gst::Element::link_many([&src, &typefind, &demux]).ok()?;
    let container = Arc::new(Mutex::new(None::<gst::Caps>));
    let found = container.clone();
    typefind.connect("have-type", false, move |args| {
        if let Some(caps) = args.get(2).and_then(|v| v.get::<gst::Caps>().ok()) {
            *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(caps);
        }
        None
    });
    // Where the video stream's caps are read once it has prerolled: the parser's
    // output (it completes them: profile, level, frame rate), else the demuxer's pad.
    let video_pad = Arc::new(Mutex::new(None::<gst::Pad>));
    let slot = video_pad.clone();
    let pipeline_weak = pipeline.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        // Only the video stream is linked: the demuxer pushes every stream from one
        // thread, so a second sink waiting to preroll would block the first. (The
        // demuxer goes on while any stream is linked.)
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if !is_video_caps(&caps) || slot.is_some() {
            return;
        }
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
        else {
            return;
        };
        let parser = element_for(video_parsers(), &caps);
        *slot = Some(match &parser {
            Some(p) => p.static_pad("src").unwrap_or_else(|| pad.clone()),
            None => pad.clone(),
        });
        let chain: Vec<&gst::Element> = parser.iter().chain([&sink]).collect();
        if pipeline.add_many(chain.iter().copied()).is_err() {
            return;
        }
        let _ = chain[0].static_pad("sink").map(|first| pad.link(&first));
        if let [p, s] = chain[..] {
            let _ = p.link(s);
        }
        for el in &chain {
            let _ = el.sync_state_with_parent();
        }
    });
    let result = (|| {
        pipeline.set_state(gst::State::Paused).ok()?;
        let bus = pipeline.bus()?;
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::AsyncDone, gst::MessageType::Error],
        )?;
        if !matches!(msg.view(), gst::MessageView::AsyncDone(_)) {
            return None;
        }
        let pad = video_pad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        // The parser's output (marked parsed), or with no parser the demuxer's: the
        // caps the direct chain hands its decoder.
        let caps = pad.current_caps()?;
        let duration = pipeline.query_duration::<gst::ClockTime>()?;
        let st = caps.structure(0)?;
        let par = st
            .get::<gst::Fraction>("pixel-aspect-ratio")
            .unwrap_or(gst::Fraction::new(1, 1));
        let w = display_width(st.get::<i32>("width").ok()? as i64, par);
        let h = st.get::<i32>("height").ok()? as i64;
        if duration.is_zero() || w <= 0 || h <= 0 {
            return None;
        }
        // Last: it creates a decoder to ask it.
        element_for(video_decoders(), &caps)?;
        let mut seeking = gst::query::Seeking::new(gst::Format::Time);
        let seekable = pipeline.query(&mut seeking) && seeking.result().0;
        let fps = caps
            .structure(0)
            .and_then(|st| st.get::<gst::Fraction>("framerate").ok())
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .map(|f| f.numer() as f64 / f.denom() as f64);
        let container = container
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| gst_pbutils::pb_utils_get_codec_description(c).to_string());
        Some(MediaInfo {
            duration_ms: Some(duration.mseconds() as i64),
            container,
            codec: Some(gst_pbutils::pb_utils_get_codec_description(&caps).to_string()),
            width: Some(w),
            height: Some(h),
            fps,
            seekable,
        })
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Probes a file with GStreamer's discoverer.
pub fn probe_with_discoverer(path: &Path, timeout: Duration) -> Result<Probe> {
    init()?;
    let uri = file_uri(path)?;
    let discoverer =
        gst_pbutils::Discoverer::new(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
            .context("cannot create a GStreamer discoverer")?;
    let info = match discoverer.discover_uri(&uri) {
        Ok(info) => info,
        Err(e) => return Ok(classify_discoverer_error(&e.to_string())),
    };
    use gst_pbutils::DiscovererResult as R;
    match info.result() {
        R::Ok => {}
        R::MissingPlugins => {
            let raw = info.missing_elements_installer_details();
            // A missing audio or subtitle decoder does not matter: only pictures are used.
            let video_missing = raw.is_empty()
                || raw.iter().any(|d| {
                    !(d.contains("decoder-audio/")
                        || d.contains("decoder-subpicture/")
                        || d.contains("decoder-text/")
                        || d.contains("decoder-application/"))
                });
            if video_missing || info.video_streams().is_empty() {
                let details: Vec<String> = raw
                    .iter()
                    .map(|d| d.split('|').nth(3).unwrap_or(d.as_str()).to_string())
                    .collect();
                let what = if details.is_empty() {
                    "a needed GStreamer plugin".to_string()
                } else {
                    details.join(", ")
                };
                return Ok(Probe::Failed(format!(
                    "unsupported format: no installed GStreamer plugin provides {what}"
                )));
            }
        }
        R::Timeout => {
            return Ok(Probe::Failed(format!(
                "probing timed out after {} s",
                timeout.as_secs()
            )));
        }
        other => return Ok(Probe::Failed(format!("probing failed: {other:?}"))),
    }
    let videos = info.video_streams();
    let Some(v) = videos.iter().find(|v| !v.is_image()) else {
        return Ok(if videos.is_empty() {
            Probe::NotVideo("no video stream".into())
        } else {
            Probe::NotVideo("a still image, not a video".into())
        });
    };
    let (w, h) = (display_width(v.width() as i64, v.par()), v.height() as i64);
    let fr = v.framerate();
    let fps = if fr.denom() > 0 && fr.numer() > 0 {
        Some(fr.numer() as f64 / fr.denom() as f64)
    } else {
        None
    };
    let codec = v
        .caps()
        .map(|c| gst_pbutils::pb_utils_get_codec_description(&c).to_string());
    let container = info
        .container_streams()
        .first()
        .and_then(|c| c.caps())
        .map(|c| gst_pbutils::pb_utils_get_codec_description(&c).to_string());
    Ok(Probe::Video(MediaInfo {
        duration_ms: info.duration().map(|d| d.mseconds() as i64),
        container,
        codec,
        width: Some(w),
        height: Some(h),
        fps,
        seekable: info.is_seekable(),
    }))
}

/// The width a person sees (stored, and what the scaler produces): the coded width
/// stretched by the pixel aspect ratio, rounded.
fn display_width(w: i64, par: gst::Fraction) -> i64 {
    if par.numer() > 0 && par.denom() > 0 && par.numer() != par.denom() {
        (w * par.numer() as i64 + par.denom() as i64 / 2) / par.denom() as i64
    } else {
        w
    }
}

fn classify_discoverer_error(msg: &str) -> Probe {
    let lower = msg.to_lowercase();
    if lower.contains("could not determine type")
        || lower.contains("not a valid")
        || lower.contains("text file")
    {
        Probe::NotVideo(format!("not a media file GStreamer recognises ({msg})"))
    } else if lower.contains("missing a plug-in") || lower.contains("missing plugin") {
        Probe::Failed("unsupported format: no installed GStreamer plugin can decode it".into())
    } else if lower.contains("permission") {
        Probe::Failed(format!("cannot read the file: {msg}"))
    } else {
        Probe::Failed(format!("cannot be opened as media: {msg}"))
    }
}

/// A frame pipeline: file → decoder → scaler → RGB appsink.
struct FramePipeline {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    /// Frames with an earlier timestamp are dropped before conversion (decode-and-drop).
    drop_before_ns: Arc<AtomicU64>,
}

impl Drop for FramePipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

const STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl FramePipeline {
    /// With `demuxer`, the pipeline is `filesrc ! demuxer ! decoder ! …` with the
    /// decoder chosen from the stream's caps; otherwise decodebin builds the chain.
    fn new(
        path: &Path,
        short_side: u32,
        hint: Option<(u32, u32)>,
        demuxer: Option<&str>,
    ) -> Result<Self> {
        init()?;
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("filesrc")
            .property("location", path.to_path_buf())
            .build()?;
        let decode = gst::ElementFactory::make(demuxer.unwrap_or("decodebin")).build()?;
        let direct = demuxer.is_some();
        // Scale first, still in the decoder's YUV format, then convert the small frame
        // to RGB: converting full-size frames (or letting one element do both) costs
        // about twice as much here (0.48 vs 0.28 ms per 640×360 frame).
        let convert = gst::ElementFactory::make("videoscale").build()?;
        let size_filter = gst::ElementFactory::make("capsfilter").build()?;
        let to_rgb = gst::ElementFactory::make("videoconvert").build()?;
        let filter = gst::ElementFactory::make("capsfilter").build()?;
        let (w, h) = hint
            .map(|(w, h)| scaled_size(w, h, short_side))
            .unwrap_or((short_side, short_side));
        size_filter.set_property("caps", sized_caps(w, h));
        filter.set_property("caps", rgb_caps(w, h));
        let sink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(2)
            .enable_last_sample(false)
            .build();
        pipeline.add_many([
            &src,
            &decode,
            &convert,
            &size_filter,
            &to_rgb,
            &filter,
            sink.upcast_ref(),
        ])?;
        src.link(&decode)?;
        gst::Element::link_many([&convert, &size_filter, &to_rgb, &filter, sink.upcast_ref()])?;

        let decoder_threads = decoder_threads();
        if decoder_threads > 0 {
            pipeline.connect_deep_element_added(move |_, _, el| {
                if el.find_property("max-threads").is_some() {
                    el.set_property("max-threads", decoder_threads);
                }
            });
        }
        let drop_before_ns = Arc::new(AtomicU64::new(0));
        let convert_weak = convert.downgrade();
        let filter_weak = filter.downgrade();
        let size_filter_weak = size_filter.downgrade();
        let linked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pipeline_weak = pipeline.downgrade();
        decode.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            if !is_video_caps(&caps) || linked.swap(true, Ordering::SeqCst) {
                return;
            }
            let (Some(convert), Some(size_filter), Some(filter), Some(pipeline)) = (
                convert_weak.upgrade(),
                size_filter_weak.upgrade(),
                filter_weak.upgrade(),
                pipeline_weak.upgrade(),
            ) else {
                return;
            };
            // Size the output from the stream's real caps (display aspect ratio).
            if let Some((w, h)) = display_size(&caps) {
                let (sw, sh) = scaled_size(w, h, short_side);
                size_filter.set_property("caps", sized_caps(sw, sh));
                filter.set_property("caps", rgb_caps(sw, sh));
            }
            let Some(sinkpad) = convert.static_pad("sink") else {
                return;
            };
            if !direct {
                let _ = pad.link(&sinkpad);
                return;
            }
            // Direct chain, as decodebin would plug it: the stream's parser when there
            // is one (it adds what the decoder and the converter need: colorimetry,
            // keyframe flags, timestamps), then the best-ranked decoder. With no
            // decoder the pad stays unlinked, prerolling fails and the caller falls
            // back to decodebin.
            let parser = element_for(video_parsers(), &caps);
            // What the parser will give the decoder: the same stream, marked parsed.
            let mut decoder_caps = caps.clone();
            if parser.is_some()
                && let Some(st) = decoder_caps.make_mut().structure_mut(0)
            {
                st.set("parsed", true);
            }
            let Some(decoder) = element_for(video_decoders(), &decoder_caps) else {
                return;
            };
            if decoder_threads > 0 && decoder.find_property("max-threads").is_some() {
                decoder.set_property("max-threads", decoder_threads);
            }
            let chain: Vec<&gst::Element> = parser.iter().chain([&decoder]).collect();
            if pipeline.add_many(chain.iter().copied()).is_err() {
                return;
            }
            let linked_ok = chain[0]
                .static_pad("sink")
                .is_some_and(|first| pad.link(&first).is_ok())
                && chain.windows(2).all(|w| w[0].link(w[1]).is_ok())
                && decoder.link(&convert).is_ok();
            for el in &chain {
                let _ = el.sync_state_with_parent();
            }
            if !linked_ok {
                gst::element_error!(
                    decoder,
                    gst::CoreError::Negotiation,
                    ["could not link the video decoder"]
                );
            }
        });
        if let Some(sinkpad) = convert.static_pad("sink") {
            if direct {
                // The software decoder's allocation query is answered here: its own
                // buffers, with strides described by video meta (the scaler reads
                // them). Left to go downstream, the query made libav decoders of
                // pictures whose width is not a multiple of 16 (854×480, 1080-wide
                // portrait phone videos: a third of the dev files) renegotiate and
                // set up a new buffer pool for every picture: 1 335 queries for one
                // 36 s file, 19 % of its sampling CPU. The same pictures come out.
                sinkpad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| {
                    if let Some(gst::PadProbeData::Query(q)) = info.data.as_mut()
                        && let gst::QueryViewMut::Allocation(a) = q.view_mut()
                    {
                        a.add_allocation_meta::<gst_video::VideoMeta>(None);
                        return gst::PadProbeReturn::Handled;
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            let threshold = drop_before_ns.clone();
            sinkpad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let limit = threshold.load(Ordering::Relaxed);
                if limit > 0
                    && let Some(buf) = info.buffer()
                    && let Some(pts) = buf.pts()
                    && pts.nseconds() < limit
                {
                    // Consume the buffer and report it handled. (Returning Drop makes
                    // gstreamer-rs 0.25 hand GStreamer a NULL buffer to unref.)
                    drop(info.take_buffer());
                    return gst::PadProbeReturn::Handled;
                }
                gst::PadProbeReturn::Ok
            });
        }
        Ok(FramePipeline {
            pipeline,
            sink,
            drop_before_ns,
        })
    }

    /// First error message on the bus, if any.
    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                let mut text = e.error().to_string();
                if let Some(d) = e.debug()
                    && text.len() < 40
                {
                    let d = d.to_string();
                    let short: String = d.lines().last().unwrap_or("").chars().take(160).collect();
                    if !short.is_empty() {
                        text = format!("{text} ({short})");
                    }
                }
                return Some(text);
            }
        }
        None
    }

    /// Brings the pipeline to PAUSED with the first frame prerolled.
    fn preroll(&self) -> Result<()> {
        self.pipeline.set_state(gst::State::Paused).map_err(|_| {
            anyhow!(
                self.bus_error()
                    .unwrap_or_else(|| "cannot start decoding".into())
            )
        })?;
        let bus = self.pipeline.bus().context("pipeline without bus")?;
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                bail!("timed out waiting for the first frame");
            }
            let Some(msg) = bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(left.as_nanos() as u64),
                &[
                    gst::MessageType::AsyncDone,
                    gst::MessageType::Error,
                    gst::MessageType::Eos,
                ],
            ) else {
                bail!("timed out waiting for the first frame");
            };
            match msg.view() {
                gst::MessageView::AsyncDone(_) => return Ok(()),
                gst::MessageView::Eos(_) => bail!("the stream ended before any frame was decoded"),
                gst::MessageView::Error(e) => bail!("{}", e.error()),
                _ => {}
            }
        }
    }

    fn duration_ns(&self) -> Option<u64> {
        self.pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| d.nseconds())
            .filter(|d| *d > 0)
    }

    fn seekable(&self) -> bool {
        let mut q = gst::query::Seeking::new(gst::Format::Time);
        if self.pipeline.query(&mut q) {
            q.result().0
        } else {
            false
        }
    }

    /// Seeks in PAUSED and returns the prerolled frame (None at end of stream).
    fn seek_and_grab(&self, flags: gst::SeekFlags, pos_ns: u64) -> Result<Option<RgbFrame>> {
        self.seek(flags, pos_ns)?;
        match self
            .sink
            .try_pull_preroll(gst::ClockTime::from_nseconds(STEP_TIMEOUT.as_nanos() as u64))
        {
            Some(sample) => Ok(Some(sample_to_frame(&sample)?)),
            None => {
                if let Some(e) = self.bus_error() {
                    bail!("{e}");
                }
                Ok(None)
            }
        }
    }

    /// Flushing seek in whatever state the pipeline is in.
    fn seek(&self, flags: gst::SeekFlags, pos_ns: u64) -> Result<()> {
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | flags,
                gst::ClockTime::from_nseconds(pos_ns),
            )
            .map_err(|_| anyhow!("seek to {:.2} s refused", pos_ns as f64 / 1e9))
    }

    /// Starts playing (as fast as possible, no clock sync) from the current position.
    fn play(&self) -> Result<()> {
        self.pipeline.set_state(gst::State::Playing).map_err(|_| {
            anyhow!(
                self.bus_error()
                    .unwrap_or_else(|| "cannot start decoding".into())
            )
        })?;
        Ok(())
    }

    /// Next decoded frame in PLAYING state, None at end of stream.
    fn next_frame(&self) -> Result<Option<RgbFrame>> {
        match self
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(STEP_TIMEOUT.as_nanos() as u64))
        {
            Some(sample) => Ok(Some(sample_to_frame(&sample)?)),
            None => {
                if let Some(e) = self.bus_error() {
                    bail!("{e}");
                }
                if self.sink.is_eos() {
                    Ok(None)
                } else {
                    bail!(
                        "decoding stalled (no frame for {} s)",
                        STEP_TIMEOUT.as_secs()
                    )
                }
            }
        }
    }
}

/// Display size (width corrected by the pixel aspect ratio) from raw or encoded video
/// caps; demuxers put width, height and pixel-aspect-ratio on encoded streams too.
fn display_size(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let s = caps.structure(0)?;
    let w = s.get::<i32>("width").ok().filter(|w| *w > 0)? as u64;
    let h = s.get::<i32>("height").ok().filter(|h| *h > 0)? as u32;
    let w = match s.get::<gst::Fraction>("pixel-aspect-ratio") {
        Ok(par) if par.numer() > 0 && par.denom() > 0 => {
            w * par.numer() as u64 / par.denom() as u64
        }
        _ => w,
    };
    Some((w as u32, h))
}

/// Element factories of a type, best rank first (what decodebin would consider).
fn factories_by_rank(kind: gst::ElementFactoryType) -> Vec<gst::ElementFactory> {
    let mut list: Vec<gst::ElementFactory> =
        gst::ElementFactory::factories_with_type(kind, gst::Rank::MARGINAL)
            .into_iter()
            .collect();
    list.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    list
}

fn video_decoders() -> &'static [gst::ElementFactory] {
    static LIST: OnceLock<Vec<gst::ElementFactory>> = OnceLock::new();
    LIST.get_or_init(|| {
        factories_by_rank(gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO)
    })
}

fn video_parsers() -> &'static [gst::ElementFactory] {
    static LIST: OnceLock<Vec<gst::ElementFactory>> = OnceLock::new();
    LIST.get_or_init(|| {
        factories_by_rank(gst::ElementFactoryType::PARSER | gst::ElementFactoryType::MEDIA_VIDEO)
    })
}

/// A new element of the first factory in `list` whose sink pad accepts `caps`. The
/// pad template is not enough (as decodebin knows): `vp8alphadecodebin` has a VP8
/// template but accepts only streams with an alpha channel.
fn element_for(list: &[gst::ElementFactory], caps: &gst::CapsRef) -> Option<gst::Element> {
    let caps_owned = caps.to_owned();
    list.iter()
        .filter(|f| f.can_sink_any_caps(caps))
        .filter_map(|f| f.create().build().ok())
        .find(|el| {
            el.static_pad("sink")
                .is_some_and(|pad| pad.query_accept_caps(&caps_owned))
        })
}

/// The demuxer for the direct `demuxer ! parser ! decoder` chain, when it can be used: a
/// container with its own demuxer (see `indexed_demuxer`) and no hardware decoder to
/// pick (decodebin negotiates their memory types). Skipping decodebin's type finding,
/// autoplugging and multiqueue thread saves ~15 % of the CPU time of sampling the
/// benchmark's 10 s clips (2 videos at once: 17.5-18 → 13.6-15.3 CPU-s for 200 clips).
/// `REELMAP_DIRECT_DECODE=0` always uses decodebin; `REELMAP_HW_DECODE=0` lets the
/// direct chain run even where hardware decoders are registered.
pub fn direct_demuxer(path: &Path) -> Option<&'static str> {
    if std::env::var("REELMAP_DIRECT_DECODE").as_deref() == Ok("0") || init().is_err() {
        return None;
    }
    static HW: OnceLock<bool> = OnceLock::new();
    let hardware_in_use = || {
        std::env::var("REELMAP_HW_DECODE").as_deref() != Ok("0")
            && !registered_hardware_decoders().is_empty()
    };
    if *HW.get_or_init(hardware_in_use) {
        return None;
    }
    indexed_demuxer(path)
}

fn is_video_caps(caps: &gst::CapsRef) -> bool {
    caps.structure(0)
        .is_some_and(|s| s.name().starts_with("video/"))
}

/// Any raw format in system memory, at the output size.
fn sized_caps(w: u32, h: u32) -> gst::Caps {
    gst_video::VideoCapsBuilder::for_encoding("video/x-raw")
        .width(w as i32)
        .height(h as i32)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1))
        .build()
}

fn rgb_caps(w: u32, h: u32) -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Rgb)
        .width(w as i32)
        .height(h as i32)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1))
        .build()
}

fn sample_to_frame(sample: &gst::Sample) -> Result<RgbFrame> {
    let caps = sample.caps().context("frame without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).context("frame with unreadable caps")?;
    let buffer = sample.buffer().context("sample without buffer")?;
    // Stream time (position in the media), not buffer time: MPEG-TS and others start
    // their timestamps at an arbitrary offset, and seek targets are stream times.
    let pts = buffer.pts();
    let stream_time = match (
        pts,
        sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned()),
    ) {
        (Some(p), Some(seg)) => seg.to_stream_time(p).or(Some(p)),
        (p, _) => p,
    };
    let pts_ns = stream_time.map(|t| t.nseconds()).unwrap_or(0);
    let duration_ns = buffer.duration().map(|d| d.nseconds()).filter(|d| *d > 0);
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow!("cannot map a decoded frame"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let plane = frame
        .plane_data(0)
        .map_err(|_| anyhow!("cannot read a decoded frame"))?;
    let mut data = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        data.extend_from_slice(&plane[row * stride..row * stride + w * 3]);
    }
    Ok(RgbFrame {
        width: w as u32,
        height: h as u32,
        data,
        pts_ns,
        duration_ns,
    })
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
) -> Result<Sampled> {
    sample_frames_via(path, sampler, short_side, hint, direct_demuxer(path))
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
) -> Result<Sampled> {
    if is_gif(path) {
        return sample_gif(path, sampler, short_side);
    }
    let direct = demuxer.and_then(|demuxer| {
        let fp = FramePipeline::new(path, short_side, hint, Some(demuxer)).ok()?;
        fp.preroll().ok().map(|_| fp)
    });
    let is_direct = direct.is_some();
    let fp = match direct {
        Some(fp) => fp,
        None => {
            let fp = FramePipeline::new(path, short_side, hint, None)?;
            fp.preroll()?;
            fp
        }
    };
    let duration = fp.duration_ns();
    let seekable = fp.seekable();
    let mut out = Vec::new();
    let res = match sampler {
        Sampler::Uniform { n } if n > 0 => match duration {
            Some(d) if seekable => sample_uniform_seeking(&fp, path, n, d, &mut out),
            _ => sample_uniform_forward(&fp, n, duration, &mut out),
        },
        Sampler::Uniform { .. } => Ok(()),
        Sampler::EveryNth { step, max } => {
            sample_forward_filter(&fp, &mut out, max, |i, _| i % step.max(1) == 0)
        }
        Sampler::Rate { fps, max } => {
            let period = (1e9 / fps.max(1e-3)) as u64;
            let mut next = 0u64;
            sample_forward_filter(&fp, &mut out, max, move |_, pts| {
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

/// Keyframe seeks (KEY_UNIT | SNAP_BEFORE) are cheap, but when keyframes are sparser
/// than the sampling step they return the same keyframe again, or one far before the
/// target. Such a sample — the same picture as the previous one, or more than half a
/// step before its target — is replaced either by an accurate seek or, when that
/// would decode more, by decoding forward through the rest of the targets. Samples
/// are always distinct pictures with increasing timestamps.
fn sample_uniform_seeking(
    fp: &FramePipeline,
    path: &Path,
    n: usize,
    duration: u64,
    out: &mut Vec<RgbFrame>,
) -> Result<()> {
    let targets = uniform_targets(n, duration);
    let half_step = if targets.len() > 1 {
        (targets[1] - targets[0]) / 2
    } else {
        duration / 4
    };
    let mut i = 0;
    while i < targets.len() {
        let t = targets[i];
        let Some(frame) =
            fp.seek_and_grab(gst::SeekFlags::KEY_UNIT | gst::SeekFlags::SNAP_BEFORE, t)?
        else {
            break;
        };
        let usable = is_new_frame(out.last(), &frame) && frame.pts_ns + half_step >= t;
        // A frame stamped exactly at the target is the picture on screen there, clipped
        // to the segment: the demuxer did not snap to the keyframe (qtdemux on some MP4
        // files with B-frames) and the decoder went through everything from the
        // keyframe before `t`. Every further "keyframe" seek would decode from that
        // keyframe again: 1 841 pictures instead of 276 for a 10 s dev file of 299.
        let snapped = frame.pts_ns != t;
        if usable && snapped {
            out.push(frame);
            i += 1;
            continue;
        }
        // Keyframes are sparser than the step here, or seeks do not land on them: plan
        // the rest from an index.
        let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= INDEX_MAX_BYTES);
        if small
            && let Ok(index) = keyframe_index(path)
            && !index.is_empty()
        {
            let left = &targets[i..];
            return match sample_with_keyframe_index(fp, &index, left, half_step, out)? {
                None => Ok(()),
                Some(j) => decode_forward_to_targets(fp, &left[j..], out),
            };
        }
        if usable {
            // No index: the exact picture it is.
            out.push(frame);
            i += 1;
            continue;
        }
        // Without an index: cost of accurate seeks ≈ remaining targets × distance from
        // the keyframe; cost of decoding forward ≈ the rest of the span.
        let keyframe = frame.pts_ns;
        let remaining = (targets.len() - i) as u64;
        let forward_cost = targets[targets.len() - 1].saturating_sub(keyframe);
        let seek_cost = remaining * t.saturating_sub(keyframe);
        if forward_cost <= seek_cost {
            return decode_forward_to_targets(fp, &targets[i..], out);
        }
        match fp.seek_and_grab(gst::SeekFlags::ACCURATE, t)? {
            Some(f) if is_new_frame(out.last(), &f) => out.push(f),
            Some(_) => {}
            None => break,
        }
        i += 1;
    }
    Ok(())
}

/// Files larger than this are never demuxed whole for a keyframe index: the cost-based
/// fallback of `sample_uniform_seeking` handles them.
const INDEX_MAX_BYTES: u64 = 1 << 30;

/// Keyframe timestamps (stream time, ns, sorted) of the first video stream of an MP4,
/// Matroska/WebM or AVI file, read by demuxing it without decoding any picture. Demuxing costs little
/// next to decoding (≈ 1 ms per MB here), and it is only done for files whose keyframes
/// turned out too sparse for keyframe seeks, which would otherwise be decoded forward
/// through most of their frames anyway.
pub fn keyframe_index(path: &Path) -> Result<Vec<u64>> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_path_buf())
        .build()?;
    let demuxer = indexed_demuxer(path).context("no keyframe index for this container")?;
    let parse = gst::ElementFactory::make(demuxer).build()?;
    pipeline.add_many([&src, &parse])?;
    src.link(&parse)?;
    let keys = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let have_video = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pipeline_weak = pipeline.downgrade();
    let keys_in = keys.clone();
    parse.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        // Every stream goes to a sink, so that the demuxer never stops on "not linked".
        // Not async: a sink added to a running pipeline must not hold it in a preroll
        // that waits for every stream.
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
        else {
            return;
        };
        if pipeline.add(&sink).is_err() {
            return;
        }
        let _ = sink.sync_state_with_parent();
        let _ = pad.link(&sink.static_pad("sink").expect("fakesink has a sink pad"));
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if !is_video_caps(&caps) || have_video.swap(true, Ordering::SeqCst) {
            return;
        }
        let keys = keys_in.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer()
                && !buf.flags().contains(gst::BufferFlags::DELTA_UNIT)
                && let Some(pts) = buf.pts()
            {
                let stream_time = pad
                    .sticky_event::<gst::event::Segment>(0)
                    .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned())
                    .and_then(|seg| seg.to_stream_time(pts))
                    .unwrap_or(pts);
                keys.lock().unwrap().push(stream_time.nseconds());
            }
            gst::PadProbeReturn::Ok
        });
    });
    let result = (|| -> Result<()> {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| anyhow!("cannot demux"))?;
        let bus = pipeline.bus().context("pipeline without bus")?;
        match bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(STEP_TIMEOUT.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => Ok(()),
                gst::MessageView::Error(e) => bail!("{}", e.error()),
                _ => Ok(()),
            },
            None => bail!("timed out demuxing"),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let mut keys = std::mem::take(&mut *keys.lock().unwrap());
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// The demuxer for MP4/QuickTime, Matroska/WebM and AVI files, told by their first
/// bytes. These containers carry an index: their demuxers mark keyframes themselves
/// (demuxing a 10 s clip takes ~1.5 ms, where `parsebin`'s autoplugging alone took
/// 4-9 ms) and seek exactly to a keyframe. Streams without one (MPEG-PS/TS, Ogg) seek
/// by estimate and can land well past the asked position, so they keep the
/// probe-and-decode-forward sampling.
fn indexed_demuxer(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    match (&head[0..4], &head[4..8], &head[8..12]) {
        (_, b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip", _) => Some("qtdemux"),
        ([0x1a, 0x45, 0xdf, 0xa3], _, _) => Some("matroskademux"),
        (b"RIFF", _, b"AVI ") => Some("avidemux"),
        _ => None,
    }
}

/// Samples `targets` knowing where the keyframes are, decoding as few pictures as
/// possible. A target with a keyframe within half a step of it (before or after) gets
/// the nearest such keyframe: one picture to decode, and the samples stay within the
/// tolerance keyframe seeks already have. Otherwise it gets the first picture at or
/// after it, reached by decoding on from the current position when no keyframe lies
/// between (nothing to skip), or else by jumping to the keyframe before it. On the
/// benchmark's 10 s clips with 2 s GOPs this decodes ~165 pictures per clip instead of
/// the ~290 of keyframe probes followed by decoding forward.
///
/// Returns the index of the first target left to the caller when a seek landed more
/// than half a step past its target (an index that does not match the stream).
fn sample_with_keyframe_index(
    fp: &FramePipeline,
    keyframes: &[u64],
    targets: &[u64],
    half_step: u64,
    out: &mut Vec<RgbFrame>,
) -> Result<Option<usize>> {
    // Below this, decoding on is cheaper than a flushing seek and a decoder restart.
    const MIN_SKIP_NS: u64 = 100_000_000;
    // Decoded timestamps may differ from the demuxer's by rounding.
    const SLACK_NS: u64 = 1_000_000;
    fp.drop_before_ns.store(u64::MAX, Ordering::Relaxed);
    fp.play()?;
    // Timestamp of the last picture pulled from the running pipeline, if any.
    let mut position: Option<u64> = None;
    for (j, &t) in targets.iter().enumerate() {
        let last_pick = out.last().map(|f| f.pts_ns);
        if last_pick.is_some_and(|l| l >= t) {
            continue; // an earlier pick already covers this target
        }
        let i = keyframes.partition_point(|&k| k <= t);
        let before = i.checked_sub(1).map(|j| keyframes[j]);
        let after = keyframes.get(i).copied();
        // A keyframe worth seeking to: after the last pick and far enough ahead of the
        // decoder's position that the seek skips something.
        let fresh = |k: u64| {
            last_pick.is_none_or(|l| k > l) && position.is_none_or(|p| k > p + MIN_SKIP_NS)
        };
        let go_on = position.is_some_and(|p| t <= p + MIN_SKIP_NS);
        let nearest_key = [before, after]
            .into_iter()
            .flatten()
            .filter(|&k| k.abs_diff(t) <= half_step && fresh(k))
            .min_by_key(|&k| k.abs_diff(t));
        let mut seeked_key = None;
        let floor = match nearest_key {
            Some(k) if !go_on => {
                let floor = k.saturating_sub(SLACK_NS).max(1);
                fp.drop_before_ns.store(floor, Ordering::Relaxed);
                // An accurate seek just past the keyframe (the keyframe is the picture
                // on screen there): one picture to decode. A keyframe seek is not
                // safe: on files with B-frames and an edit list, qtdemux aligns it to
                // a time a fraction of a millisecond before the keyframe, takes the
                // picture before it, and decodes from the previous keyframe, 8 s back
                // on a 10 s dev file (the whole file again for one sample).
                fp.seek(gst::SeekFlags::ACCURATE, k + SLACK_NS)?;
                seeked_key = Some(k);
                floor
            }
            _ => {
                fp.drop_before_ns.store(t.max(1), Ordering::Relaxed);
                let jump = before.is_some_and(fresh) || position.is_none();
                if jump && !go_on {
                    fp.seek(gst::SeekFlags::ACCURATE, t)?;
                }
                t
            }
        };
        let picked = loop {
            let Some(frame) = fp.next_frame()? else {
                break None;
            };
            if frame.pts_ns >= floor && is_new_frame(out.last(), &frame) {
                break Some(frame);
            }
        };
        // Until the next decision, nothing is worth converting.
        fp.drop_before_ns.store(u64::MAX, Ordering::Relaxed);
        let Some(mut frame) = picked else { break };
        if frame.pts_ns > t + half_step + SLACK_NS {
            return Ok(Some(j));
        }
        // The keyframe came back clipped to the seek position: give it its own time.
        if let Some(k) = seeked_key
            && (k..=k + SLACK_NS).contains(&frame.pts_ns)
        {
            frame.duration_ns = frame.duration_ns.map(|d| d + (frame.pts_ns - k));
            frame.pts_ns = k;
        }
        position = Some(frame.pts_ns);
        out.push(frame);
    }
    Ok(None)
}

/// Pulls frames in PLAYING state and keeps, for each target, the first new picture at
/// or after it. Frames before the next target are dropped before conversion.
fn take_targets(fp: &FramePipeline, targets: &[u64], out: &mut Vec<RgbFrame>) -> Result<()> {
    let mut j = 0;
    if let Some(&t) = targets.first() {
        fp.drop_before_ns.store(t.max(1), Ordering::Relaxed);
    }
    while j < targets.len() {
        let Some(frame) = fp.next_frame()? else { break };
        if frame.pts_ns < targets[j] || !is_new_frame(out.last(), &frame) {
            continue;
        }
        // Skip every target this frame already covers, so that none is sampled twice.
        while j < targets.len() && targets[j] <= frame.pts_ns {
            j += 1;
        }
        out.push(frame);
        if j < targets.len() {
            fp.drop_before_ns
                .store(targets[j].max(1), Ordering::Relaxed);
        }
    }
    Ok(())
}

/// From the first target on, decodes every frame but converts only those picked.
fn decode_forward_to_targets(
    fp: &FramePipeline,
    targets: &[u64],
    out: &mut Vec<RgbFrame>,
) -> Result<()> {
    let Some(&first) = targets.first() else {
        return Ok(());
    };
    fp.seek(gst::SeekFlags::ACCURATE, first)?;
    fp.drop_before_ns.store(first.max(1), Ordering::Relaxed);
    fp.play()?;
    take_targets(fp, targets, out)
}

/// For files that cannot seek (or have no known duration): decode everything, keeping a
/// thinning reservoir so that memory stays bounded, then pick `n` evenly.
fn sample_uniform_forward(
    fp: &FramePipeline,
    n: usize,
    duration: Option<u64>,
    out: &mut Vec<RgbFrame>,
) -> Result<()> {
    if let Some(d) = duration {
        fp.play()?;
        return take_targets(fp, &uniform_targets(n, d), out);
    }
    fp.play()?;
    let mut keep: Vec<RgbFrame> = Vec::new();
    let mut spacing: u64 = 100_000_000; // 0.1 s, doubled whenever the reservoir fills
    let mut next_at: u64 = 0;
    let mut result = Ok(());
    loop {
        let frame = match fp.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if frame.pts_ns < next_at && !keep.is_empty() {
            continue;
        }
        next_at = frame.pts_ns + spacing;
        keep.push(frame);
        if keep.len() >= 4 * n.max(1) {
            keep = keep.into_iter().step_by(2).collect();
            spacing *= 2;
        }
    }
    if keep.len() > n {
        let len = keep.len();
        let picks: Vec<usize> = (0..n).map(|i| i * (len - 1) / (n - 1).max(1)).collect();
        let mut idx = 0;
        keep.retain(|_| {
            let k = picks.contains(&idx);
            idx += 1;
            k
        });
    }
    out.extend(keep);
    result
}

/// Decodes forward from the start and keeps frames the filter accepts
/// (frame index, pts) — for the "every h-th frame" and fixed-rate samplers.
fn sample_forward_filter(
    fp: &FramePipeline,
    out: &mut Vec<RgbFrame>,
    max: usize,
    mut accept: impl FnMut(usize, u64) -> bool,
) -> Result<()> {
    fp.play()?;
    let mut index = 0usize;
    while out.len() < max {
        let Some(frame) = fp.next_frame()? else { break };
        let i = index;
        index += 1;
        if !is_new_frame(out.last(), &frame) {
            continue;
        }
        if accept(i, frame.pts_ns) {
            out.push(frame);
        }
    }
    Ok(())
}

// ----- animated GIF -----
//
// GStreamer's GIF path (libav's demuxer) stalls on many real GIFs ("invalid block
// label" and no EOS), so GIFs are decoded with the `image` crate, which composes
// each frame with its disposal rules.

/// True for files that start with the GIF signature.
pub fn is_gif(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 6];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"GIF89a" || &head == b"GIF87a")
        .unwrap_or(false)
}

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

fn probe_gif(path: &Path) -> Result<Probe> {
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

fn sample_gif(path: &Path, sampler: Sampler, short_side: u32) -> Result<Sampled> {
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
/// runs on the few output rows. `image::imageops::resize` took ~0.7 ms per thumbnail
/// (generic per-pixel float conversions), a tenth of a video's decoding time.
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
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
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

    #[test]
    fn targets_span_five_to_ninety_five_percent() {
        let t = uniform_targets(16, 100_000);
        assert_eq!(t.len(), 16);
        assert_eq!(t[0], 5_000);
        assert_eq!(t[15], 95_000);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn display_width_rounds_like_the_discoverer_path() {
        // Stretched by the pixel aspect ratio and rounded to the nearest pixel.
        assert_eq!(display_width(176, gst::Fraction::new(12, 11)), 192);
        assert_eq!(display_width(352, gst::Fraction::new(59, 54)), 385);
        assert_eq!(display_width(640, gst::Fraction::new(1, 1)), 640);
        assert_eq!(display_width(640, gst::Fraction::new(0, 1)), 640);
    }

    #[test]
    fn scaled_size_keeps_aspect() {
        assert_eq!(scaled_size(1920, 1080, 256), (456, 256));
        assert_eq!(scaled_size(1080, 1920, 256), (256, 456));
        assert_eq!(scaled_size(160, 120, 256), (342, 256));
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
