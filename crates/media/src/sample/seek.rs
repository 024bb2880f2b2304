//! Uniform samples by keyframe seeks, falling back to an index, accurate seeks or
//! decoding forward when keyframes are sparser than the sampling step.

use super::forward::decode_forward_to_targets;
use super::index::{INDEX_MAX_BYTES, keyframe_index, sample_with_keyframe_index};
use super::{is_new_frame, uniform_targets};
use crate::RgbFrame;
use crate::pipeline::FramePipeline;
use anyhow::Result;
use gstreamer as gst;
use std::path::Path;

/// Keyframe seeks (KEY_UNIT | SNAP_BEFORE) are cheap, but when keyframes are sparser
/// than the sampling step they return the same keyframe again, or one far before the
/// target. Such a sample — the same picture as the previous one, or more than half a
/// step before its target — is replaced either by an accurate seek or, when that
/// would decode more, by decoding forward through the rest of the targets. Samples
/// are always distinct pictures with increasing timestamps.
pub(super) fn sample_uniform_seeking(
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
        // keyframe again, most of the file for each sample.
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
