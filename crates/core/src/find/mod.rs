//! Finding footage again: the [`dense`] frame index of the library, its
//! nearest-neighbour index ([`ann`]) for candidates, temporal [`align`]ment to
//! confirm them; on top, near-[`duplicates`], the source of a [`clip`], and
//! [`search`] by words.

pub mod align;
pub mod ann;
pub mod clip;
pub mod dense;
pub mod duplicates;
pub mod search;

use align::{QueryFrame, Track};
use ann::FrameIndex;
use dense::DenseFrames;
use std::collections::HashMap;

/// Candidate videos aligned per query.
const CANDIDATES: usize = 12;
/// Neighbours looked up per query frame.
const NEIGHBOURS: usize = 10;

/// A query's frames as the alignment reads them.
pub(crate) fn query_frames(d: &DenseFrames) -> Vec<QueryFrame> {
    let start = d.times.first().copied().unwrap_or(0) as f64 / 1000.0;
    let mut layouts = d.layout_vectors().map(Vec::into_iter);
    (0..d.len())
        .map(|i| QueryFrame {
            t: d.times[i] as f64 / 1000.0 - start,
            vector: dense::decode(d.code(i)),
            layout: layouts.as_mut().and_then(Iterator::next),
            informative: d.informative[i],
        })
        .collect()
}

/// Another video's frames as the alignment reads them.
pub(crate) struct Other {
    times: Vec<f64>,
    vectors: Vec<Vec<f32>>,
    informative: Vec<bool>,
    layouts: Option<Vec<Vec<f32>>>,
}

impl Other {
    pub(crate) fn of(d: &DenseFrames) -> Other {
        Other {
            times: d.times.iter().map(|&t| t as f64 / 1000.0).collect(),
            vectors: d.vectors(),
            informative: d.informative.clone(),
            layouts: d.layout_vectors(),
        }
    }

    pub(crate) fn track(&self) -> Track<'_> {
        Track {
            times: &self.times,
            vectors: &self.vectors,
            informative: &self.informative,
            layouts: self.layouts.as_deref(),
        }
    }
}

/// The videos whose frames are nearest to the query's, most votes first (a video
/// gets one vote per query frame that found one of its frames).
pub(crate) fn candidates(
    index: &FrameIndex,
    query: &DenseFrames,
    exclude: Option<i64>,
    limit: usize,
) -> Vec<i64> {
    candidate_votes(index, query, exclude, limit)
        .0
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

/// [`candidates`] with their votes, and how many query frames looked.
pub(crate) fn candidate_votes(
    index: &FrameIndex,
    query: &DenseFrames,
    exclude: Option<i64>,
    limit: usize,
) -> (Vec<(i64, usize)>, usize) {
    let mut votes: HashMap<i64, usize> = HashMap::new();
    // At most 60 query frames look up neighbours, evenly spread.
    let informative: Vec<usize> = (0..query.len()).filter(|&i| query.informative[i]).collect();
    let step = informative.len().div_ceil(60).max(1);
    let mut looked = 0;
    for &i in informative.iter().step_by(step) {
        looked += 1;
        let mut seen = std::collections::HashSet::new();
        for ((video, _), _) in index.nearest(query.code(i), NEIGHBOURS) {
            if Some(video) != exclude && seen.insert(video) {
                *votes.entry(video).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, i64)> = votes.into_iter().map(|(v, n)| (n, v)).collect();
    ranked.sort_by(|a, b| b.cmp(a));
    let ranked = ranked
        .into_iter()
        .take(limit)
        .map(|(n, v)| (v, n))
        .collect();
    (ranked, looked)
}
