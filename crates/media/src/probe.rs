//! Probing a file: container, codec, display size, frame rate, duration, whether it
//! seeks. A quick path (demuxer and parser, no decoder) for the containers the direct
//! chain reads; GStreamer's discoverer for everything else.

use crate::pipeline::{element_for, is_video_caps, video_decoders, video_parsers};
use crate::{DecodeOptions, MediaInfo};
use anyhow::{Context, Result};
use gst::prelude::*;
use gst_pbutils::prelude::*;
use gstreamer as gst;
use gstreamer_pbutils as gst_pbutils;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
pub fn probe(path: &Path, timeout: Duration, opts: &DecodeOptions) -> Result<Probe> {
    if crate::container::is_gif(path) {
        return crate::gif::probe_gif(path);
    }
    if let Some(info) = probe_quick(path, timeout, opts) {
        return Ok(Probe::Video(info));
    }
    probe_with_discoverer(path, timeout)
}

/// The quick probe, for MP4, Matroska/WebM and AVI (the containers of
/// [`crate::direct_demuxer`]): type finding, the demuxer and the video stream's parser, but no
/// decoder. The discoverer decodes a first picture, most of the first scan's time. None, for the discoverer to
/// decide, unless the file prerolls, has a video stream with a size and a duration, and
/// an installed decoder accepts that stream; decoding problems beyond the first picture
/// show up when the frames are sampled, where they are recorded as well.
pub fn probe_quick(path: &Path, timeout: Duration, opts: &DecodeOptions) -> Option<MediaInfo> {
    use std::sync::Mutex;
    let demuxer = crate::direct_demuxer(path, opts)?;
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
    crate::init()?;
    let uri = crate::file_uri(path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_width_rounds_like_the_discoverer_path() {
        // Stretched by the pixel aspect ratio and rounded to the nearest pixel.
        assert_eq!(display_width(176, gst::Fraction::new(12, 11)), 192);
        assert_eq!(display_width(352, gst::Fraction::new(59, 54)), 385);
        assert_eq!(display_width(640, gst::Fraction::new(1, 1)), 640);
        assert_eq!(display_width(640, gst::Fraction::new(0, 1)), 640);
    }
}
