//! A keyframe index (demuxing only) and sampling planned from it.

use super::is_new_frame;
use crate::RgbFrame;
use crate::pipeline::{FramePipeline, STEP_TIMEOUT, is_video_caps};
use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gstreamer as gst;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Files larger than this are never demuxed whole for a keyframe index: the cost-based
/// fallback of `sample_uniform_seeking` handles them.
pub(super) const INDEX_MAX_BYTES: u64 = 1 << 30;

/// Keyframe timestamps (stream time, ns, sorted) of the first video stream of an MP4,
/// Matroska/WebM or AVI file, read by demuxing it without decoding any picture. Demuxing costs little
/// next to decoding, and it is only done for files whose keyframes
/// turned out too sparse for keyframe seeks, which would otherwise be decoded forward
/// through most of their frames anyway.
pub fn keyframe_index(path: &Path) -> Result<Vec<u64>> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_path_buf())
        .build()?;
    let demuxer =
        crate::container::indexed_demuxer(path).context("no keyframe index for this container")?;
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

/// Samples `targets` knowing where the keyframes are, decoding as few pictures as
/// possible. A target with a keyframe within half a step of it (before or after) gets
/// the nearest such keyframe: one picture to decode, and the samples stay within the
/// tolerance keyframe seeks already have. Otherwise it gets the first picture at or
/// after it, reached by decoding on from the current position when no keyframe lies
/// between (nothing to skip), or else by jumping to the keyframe before it: far fewer
/// pictures than keyframe probes followed by decoding forward.
///
/// Returns the index of the first target left to the caller when a seek landed more
/// than half a step past its target (an index that does not match the stream).
pub(super) fn sample_with_keyframe_index(
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
