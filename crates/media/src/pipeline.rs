//! The GStreamer chain that decodes a file and hands over small RGB pictures: `filesrc
//! ! demuxer ! parser ! decoder` built directly where it can be (else decodebin), then
//! `videoscale ! videoconvert` to the model's input size and an appsink. Also the
//! choice of decoders (by rank, hardware ones raised above software) and the caps.

use crate::{DecodeOptions, RgbFrame};
use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gst_video::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Hardware decoders that GStreamer 1.22 registers only when their device works (VA-API
/// through the `va` plugin, NVIDIA through `nvcodec`), but with a rank too low for
/// decodebin to pick them. Raising their rank above the software decoders makes
/// decodebin use them automatically where present; their output is copied to system
/// memory by the normal caps negotiation with `videoconvertscale`.
/// [`DecodeOptions::hardware`](crate::DecodeOptions) off keeps the software decoders.
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

pub(crate) fn prefer_hardware_decoders() {
    for f in registered_hardware_decoders() {
        f.set_rank(gst::Rank::PRIMARY + 1);
    }
}

/// Names of the hardware decoders this machine offers (for `reelmap bench` and logs).
pub fn hardware_decoders() -> Vec<String> {
    if crate::init().is_err() {
        return vec![];
    }
    registered_hardware_decoders()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
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

/// A frame pipeline: file → decoder → scaler → RGB appsink.
pub(crate) struct FramePipeline {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    /// Frames with an earlier timestamp are dropped before conversion (decode-and-drop).
    pub(crate) drop_before_ns: Arc<AtomicU64>,
}

impl Drop for FramePipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl FramePipeline {
    /// With `demuxer`, the pipeline is `filesrc ! demuxer ! decoder ! …` with the
    /// decoder chosen from the stream's caps; otherwise decodebin builds the chain.
    /// `decoder_threads`: see [`DecodeOptions::decoder_threads`].
    pub(crate) fn new(
        path: &Path,
        short_side: u32,
        hint: Option<(u32, u32)>,
        demuxer: Option<&str>,
        opts: &DecodeOptions,
    ) -> Result<Self> {
        crate::init_with(opts)?;
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("filesrc")
            .property("location", path.to_path_buf())
            .build()?;
        let decode = gst::ElementFactory::make(demuxer.unwrap_or("decodebin")).build()?;
        let direct = demuxer.is_some();
        // Scale first, still in the decoder's YUV format, then convert the small frame
        // to RGB: converting full-size frames (or letting one element do both) costs
        // about twice as much.
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

        let decoder_threads = opts.decoder_threads.min(i32::MAX as u32) as i32;
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
                // set up a new buffer pool for every picture. The same pictures come
                // out.
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
    pub(crate) fn bus_error(&self) -> Option<String> {
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
    pub(crate) fn preroll(&self) -> Result<()> {
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

    pub(crate) fn duration_ns(&self) -> Option<u64> {
        self.pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| d.nseconds())
            .filter(|d| *d > 0)
    }

    pub(crate) fn seekable(&self) -> bool {
        let mut q = gst::query::Seeking::new(gst::Format::Time);
        if self.pipeline.query(&mut q) {
            q.result().0
        } else {
            false
        }
    }

    /// Seeks in PAUSED and returns the prerolled frame (None at end of stream).
    pub(crate) fn seek_and_grab(
        &self,
        flags: gst::SeekFlags,
        pos_ns: u64,
    ) -> Result<Option<RgbFrame>> {
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
    pub(crate) fn seek(&self, flags: gst::SeekFlags, pos_ns: u64) -> Result<()> {
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | flags,
                gst::ClockTime::from_nseconds(pos_ns),
            )
            .map_err(|_| anyhow!("seek to {:.2} s refused", pos_ns as f64 / 1e9))
    }

    /// Starts playing (as fast as possible, no clock sync) from the current position.
    pub(crate) fn play(&self) -> Result<()> {
        self.pipeline.set_state(gst::State::Playing).map_err(|_| {
            anyhow!(
                self.bus_error()
                    .unwrap_or_else(|| "cannot start decoding".into())
            )
        })?;
        Ok(())
    }

    /// Next decoded frame in PLAYING state, None at end of stream.
    pub(crate) fn next_frame(&self) -> Result<Option<RgbFrame>> {
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

pub(crate) fn video_decoders() -> &'static [gst::ElementFactory] {
    static LIST: OnceLock<Vec<gst::ElementFactory>> = OnceLock::new();
    LIST.get_or_init(|| {
        factories_by_rank(gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO)
    })
}

pub(crate) fn video_parsers() -> &'static [gst::ElementFactory] {
    static LIST: OnceLock<Vec<gst::ElementFactory>> = OnceLock::new();
    LIST.get_or_init(|| {
        factories_by_rank(gst::ElementFactoryType::PARSER | gst::ElementFactoryType::MEDIA_VIDEO)
    })
}

/// A new element of the first factory in `list` whose sink pad accepts `caps`. The
/// pad template is not enough (as decodebin knows): `vp8alphadecodebin` has a VP8
/// template but accepts only streams with an alpha channel.
pub(crate) fn element_for(
    list: &[gst::ElementFactory],
    caps: &gst::CapsRef,
) -> Option<gst::Element> {
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
/// benchmark's 10 s clips (see `bench/PROFILING.md`). Off with
/// [`DecodeOptions::direct_chain`]; with [`DecodeOptions::hardware`] off the direct
/// chain runs even where hardware decoders are registered.
pub fn direct_demuxer(path: &Path, opts: &DecodeOptions) -> Option<&'static str> {
    if !opts.direct_chain || crate::init_with(opts).is_err() {
        return None;
    }
    static HW: OnceLock<bool> = OnceLock::new();
    if opts.hardware && *HW.get_or_init(|| !registered_hardware_decoders().is_empty()) {
        return None;
    }
    crate::container::indexed_demuxer(path)
}

pub(crate) fn is_video_caps(caps: &gst::CapsRef) -> bool {
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

pub(crate) fn sample_to_frame(sample: &gst::Sample) -> Result<RgbFrame> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_size_keeps_aspect() {
        assert_eq!(scaled_size(1920, 1080, 256), (456, 256));
        assert_eq!(scaled_size(1080, 1920, 256), (256, 456));
        assert_eq!(scaled_size(160, 120, 256), (342, 256));
    }
}
