//! Decoding forward: every picture is decoded, only the picked ones are converted.

use super::{is_new_frame, uniform_targets};
use crate::RgbFrame;
use crate::pipeline::FramePipeline;
use anyhow::Result;
use gstreamer as gst;
use std::sync::atomic::Ordering;

/// Pulls frames in PLAYING state and keeps, for each target, the first new picture at
/// or after it. Frames before the next target are dropped before conversion.
pub(super) fn take_targets(
    fp: &FramePipeline,
    targets: &[u64],
    out: &mut Vec<RgbFrame>,
) -> Result<()> {
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
pub(super) fn decode_forward_to_targets(
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
pub(super) fn sample_uniform_forward(
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
pub(super) fn sample_forward_filter(
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
