//! The source of a clip: which videos of the library contain it, and where.

use super::align::align;
use super::ann::FrameIndex;
use super::dense::{self, DenseFrames};
use super::{CANDIDATES, Other, candidates, query_frames};
use crate::store::Catalogue;
use anyhow::Result;
use reelmap_media::DecodeOptions;
use reelmap_model::Embedder;
use std::path::Path;

/// A clip is sampled this densely, so that its offset is found to a fraction of the
/// library's 1 fps.
pub const CLIP_FPS: f64 = 4.0;

/// Where a clip was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClipMatch {
    pub video_id: i64,
    /// Where in the video the clip starts, seconds.
    pub offset_s: f64,
    /// Seconds of the clip matched.
    pub matched_s: f64,
    /// Share of the clip's informative frames matched.
    pub coverage: f64,
    pub similarity: f32,
}

/// The videos of the library that contain the clip at `path`, best first, with the
/// time where it starts. The library must have its dense index (`dense::index_library`).
pub fn find_clip(
    cat: &Catalogue,
    embedder: &Embedder,
    path: &Path,
    decode: &DecodeOptions,
) -> Result<Vec<ClipMatch>> {
    let clip = dense::dense_frames_of(path, CLIP_FPS, embedder, decode, 8)?;
    let index = FrameIndex::for_catalogue(cat, embedder.name())?;
    find_frames(cat, &index, embedder.name(), &clip)
}

/// [`find_clip`] for a clip's dense frames.
pub fn find_frames(
    cat: &Catalogue,
    index: &FrameIndex,
    model: &str,
    clip: &DenseFrames,
) -> Result<Vec<ClipMatch>> {
    let informative = clip.informative.iter().filter(|i| **i).count();
    if informative == 0 {
        return Ok(vec![]);
    }
    let query = query_frames(clip);
    let min_matched = (informative as f64 * 0.3).ceil().max(2.0) as usize;
    let mut out = Vec::new();
    for video in candidates(index, clip, None, CANDIDATES) {
        let Some(d) = cat.dense_frames(video, model)? else {
            continue;
        };
        let other = Other::of(&d);
        if let Some(a) = align(&query, &other.track(), &[1.0], min_matched) {
            out.push(ClipMatch {
                video_id: video,
                offset_s: a.offset_s,
                matched_s: a.query_seconds() + 1.0 / clip.fps,
                coverage: a.matched as f64 / informative as f64,
                similarity: a.similarity,
            });
        }
    }
    out.sort_by(|a, b| {
        b.coverage
            .total_cmp(&a.coverage)
            .then(b.similarity.total_cmp(&a.similarity))
    });
    Ok(out)
}
