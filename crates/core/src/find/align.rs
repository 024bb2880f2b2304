//! Temporal alignment of two frame sequences, as in video copy localisation: the
//! offset (and playback speed) that makes the most query frames look like the
//! frames of the other video at the matching time.
//!
//! Candidate offsets come from each query frame's best matches (a vote, as temporal
//! Hough voting does), and each is then refined on a fine grid by interpolating the
//! other video between its frames, so that the offset is found to a fraction of the
//! frame spacing.
//!
//! Frames are compared by their network codes; where both have layouts (the
//! brightness grid of [`dense`](super::dense)), a pair whose layouts agree closely
//! counts as a match although compression pulled the codes apart, as long as the
//! codes are not unrelated.

use reelmap_numeric::dot;

/// A query frame.
#[derive(Debug, Clone)]
pub struct QueryFrame {
    /// Seconds from the query's start.
    pub t: f64,
    /// The code as a unit vector.
    pub vector: Vec<f32>,
    /// The layout as a unit vector, if known.
    pub layout: Option<Vec<f32>>,
    /// Whether the frame shows something.
    pub informative: bool,
}

impl QueryFrame {
    pub fn new(t: f64, vector: Vec<f32>, informative: bool) -> QueryFrame {
        QueryFrame {
            t,
            vector,
            layout: None,
            informative,
        }
    }
}

/// A frame pair this similar shows the same picture (re-encoded, resized, cropped).
pub const MATCH: f32 = 0.80;
/// Layouts correlated this well show the same picture (other footage stays under
/// 0.75 on the find benchmark, heavily compressed copies of one moment above 0.97)...
pub const LAYOUT_MATCH: f32 = 0.92;
/// ...provided the codes are at least this similar (unrelated pictures are near 0).
pub const LAYOUT_FLOOR: f32 = 0.30;

/// Frames less similar than this show other pictures, not a degraded copy.
pub const DISTINCT: f32 = 0.5;

/// Informative query frames at (speed, offset) that show other pictures than the
/// other video at the matching time.
fn distinct(query: &[QueryFrame], track: &Track, speed: f64, offset: f64) -> usize {
    query
        .iter()
        .filter(|q| q.informative)
        .filter_map(|q| track.similarity_at(q, speed * q.t + offset))
        .filter(|s| *s < DISTINCT)
        .count()
}

/// The similarity of a frame pair: its codes' cosine, raised to a match when the
/// layouts agree (see [`LAYOUT_MATCH`]); the closer the layouts, the higher, so
/// that the best offset still stands out.
fn combined(code: f32, layout: Option<f32>) -> f32 {
    match layout {
        Some(l) if l >= LAYOUT_MATCH && code >= LAYOUT_FLOOR => code.max(MATCH + l - LAYOUT_MATCH),
        _ => code,
    }
}

/// Whether the layouts can change a pair's verdict: codes that match already are
/// taken as they are (half the work where most pairs match).
fn needs_layout(code: f32) -> bool {
    (LAYOUT_FLOOR..MATCH).contains(&code)
}

/// The cosine of `v` with the interpolation `(1 - w) a + w b` of two unit vectors,
/// without building it.
fn interpolated(v: &[f32], a: &[f32], b: &[f32], w: f32) -> f32 {
    let (sa, sb) = (dot(v, a), if w > 0.0 { dot(v, b) } else { 0.0 });
    let cross = if w > 0.0 { dot(a, b) } else { 1.0 };
    let norm2 = (1.0 - w) * (1.0 - w) + w * w + 2.0 * w * (1.0 - w) * cross;
    ((1.0 - w) * sa + w * sb) / norm2.max(1e-6).sqrt()
}

/// Where a query sequence is found in another video.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alignment {
    /// The other video's time (s) at the query's time 0.
    pub offset_s: f64,
    /// The other video's seconds per query second.
    pub speed: f64,
    /// Informative query frames matched.
    pub matched: usize,
    /// Informative query frames in the compared range.
    pub compared: usize,
    /// Compared frames that show clearly other pictures (below [`DISTINCT`]): where
    /// two videos share an intro, what follows it.
    pub distinct: usize,
    /// Mean similarity of the matched frames.
    pub similarity: f32,
    /// The matched span, in query seconds.
    pub query_span: (f64, f64),
    /// The matched span, in the other video's seconds.
    pub other_span: (f64, f64),
}

impl Alignment {
    /// Seconds of the query that were matched (first to last match).
    pub fn query_seconds(&self) -> f64 {
        self.query_span.1 - self.query_span.0
    }

    pub fn other_seconds(&self) -> f64 {
        self.other_span.1 - self.other_span.0
    }
}

/// Another video's frames: times (s), unit vectors, informative flags, layouts
/// (unit vectors) if known.
pub struct Track<'a> {
    pub times: &'a [f64],
    pub vectors: &'a [Vec<f32>],
    pub informative: &'a [bool],
    pub layouts: Option<&'a [Vec<f32>]>,
}

impl Track<'_> {
    fn end(&self) -> f64 {
        self.times.last().copied().unwrap_or(0.0)
    }

    /// Similarity of query frame `q` to this video's frame `j`.
    fn similarity(&self, q: &QueryFrame, j: usize) -> f32 {
        let code = dot(&q.vector, &self.vectors[j]);
        let layout = match (&q.layout, self.layouts) {
            (Some(l), Some(ls)) if needs_layout(code) => Some(dot(l, &ls[j])),
            _ => None,
        };
        combined(code, layout)
    }

    /// Similarity of query frame `q` to the picture at time `t`, interpolated between
    /// the two frames around it; None outside the video or next to an uninformative
    /// frame.
    fn similarity_at(&self, q: &QueryFrame, t: f64) -> Option<f32> {
        let n = self.times.len();
        if n == 0 || t < self.times[0] - 0.5 || t > self.end() + 0.5 {
            return None;
        }
        let j = self.times.partition_point(|&x| x <= t);
        let (a, b) = (j.saturating_sub(1), j.min(n - 1));
        if !self.informative[a] || !self.informative[b] {
            return None;
        }
        let (ta, tb) = (self.times[a], self.times[b]);
        let w = if tb > ta {
            ((t - ta) / (tb - ta)).clamp(0.0, 1.0) as f32
        } else {
            0.0
        };
        let code = interpolated(&q.vector, &self.vectors[a], &self.vectors[b], w);
        let layout = match (&q.layout, self.layouts) {
            (Some(l), Some(ls)) if needs_layout(code) => Some(interpolated(l, &ls[a], &ls[b], w)),
            _ => None,
        };
        Some(combined(code, layout))
    }
}

/// Scores one (speed, offset): matched count, mean similarity of the matches, the
/// compared count and the matched query time range.
fn score(
    query: &[QueryFrame],
    track: &Track,
    speed: f64,
    offset: f64,
) -> (usize, f32, usize, f64, f64) {
    let (mut matched, mut sum, mut compared) = (0, 0f32, 0);
    let (mut first, mut last) = (f64::MAX, f64::MIN);
    for q in query {
        if !q.informative {
            continue;
        }
        let t = &q.t;
        let Some(s) = track.similarity_at(q, speed * t + offset) else {
            continue;
        };
        compared += 1;
        if s >= MATCH {
            matched += 1;
            sum += s;
            first = first.min(*t);
            last = last.max(*t);
        }
    }
    (
        matched,
        if matched > 0 {
            sum / matched as f32
        } else {
            0.0
        },
        compared,
        first,
        last,
    )
}

/// The best alignment of `query` in `track` over the given playback speeds, or None
/// when fewer than `min_matched` frames match anywhere.
pub fn align(
    query: &[QueryFrame],
    track: &Track,
    speeds: &[f64],
    min_matched: usize,
) -> Option<Alignment> {
    if track.times.is_empty() {
        return None;
    }
    let mut best: Option<(usize, f32, f64, f64, usize, f64, f64)> = None;
    // Each informative query frame votes for the offsets of its best matches (at
    // most 3; found once, the offsets then differ by speed).
    let best_matches: Vec<(f64, Vec<usize>)> = query
        .iter()
        .filter(|q| q.informative)
        .map(|q| {
            let mut sims: Vec<(f32, usize)> = (0..track.times.len())
                .filter(|&j| track.informative[j])
                .map(|j| (track.similarity(q, j), j))
                .filter(|(s, _)| *s >= MATCH - 0.1)
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0));
            (q.t, sims.iter().take(3).map(|&(_, j)| j).collect())
        })
        .collect();
    for &speed in speeds {
        let mut best_here: Option<(usize, f32, f64, f64, usize, f64, f64)> = None;
        let mut votes: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for (t, matches) in &best_matches {
            for &j in matches {
                let offset = track.times[j] - speed * t;
                *votes.entry((offset * 2.0).round() as i64).or_default() += 1;
            }
        }
        let mut peaks: Vec<(usize, i64)> = votes.into_iter().map(|(o, n)| (n, o)).collect();
        peaks.sort_by(|a, b| b.cmp(a));
        for &(_, bin) in peaks.iter().take(4) {
            let centre = bin as f64 / 2.0;
            // Refine: ±1 s around the peak in 0.25 s steps, then ±0.2 s around the
            // best of those in 0.05 s steps.
            let mut coarse: Option<(usize, f32, f64)> = None;
            for step in -4..=4 {
                let offset = centre + step as f64 * 0.25;
                let (m, sim, ..) = score(query, track, speed, offset);
                if coarse.is_none_or(|(bm, bs, _)| m > bm || (m == bm && sim > bs)) {
                    coarse = Some((m, sim, offset));
                }
            }
            let Some((_, _, around)) = coarse else {
                continue;
            };
            for step in -4..=4 {
                let offset = around + step as f64 * 0.05;
                let (m, sim, compared, first, last) = score(query, track, speed, offset);
                let better = match &best_here {
                    None => m > 0,
                    Some((bm, bs, ..)) => m > *bm || (m == *bm && sim > *bs),
                };
                if better {
                    best_here = Some((m, sim, speed, offset, compared, first, last));
                }
            }
        }
        // Speeds are tried in order of likelihood (normal speed first): another
        // one must explain clearly more, since in a still or slow shot every speed
        // fits about as well.
        best = match (best, best_here) {
            (None, here) => here,
            (Some(b), Some(h))
                if h.0 as f64 > b.0 as f64 * 1.15 + 1.0 || (h.0 >= b.0 && h.1 > b.1 + 0.01) =>
            {
                Some(h)
            }
            (b, _) => b,
        };
    }
    let (matched, similarity, speed, offset, compared, first, last) = best?;
    if matched < min_matched {
        return None;
    }
    Some(Alignment {
        offset_s: offset,
        speed,
        matched,
        compared,
        distinct: distinct(query, track, speed, offset),
        similarity,
        query_span: (first, last),
        other_span: (speed * first + offset, speed * last + offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth random walk of unit vectors: a "video" whose pictures change slowly.
    fn walk(n: usize, step: f64, seed: u64) -> Vec<(f64, Vec<f32>)> {
        let mut rng = reelmap_numeric::SplitMix64::seeded(seed);
        let mut v: Vec<f32> = (0..64).map(|_| rng.normal() as f32).collect();
        (0..n)
            .map(|i| {
                let mut u = v.clone();
                reelmap_numeric::l2_normalize(&mut u);
                v.iter_mut().for_each(|x| *x += 0.35 * rng.normal() as f32);
                (i as f64 * step, u)
            })
            .collect()
    }

    /// The walk's picture at time t (linear between its samples).
    fn at(track: &[(f64, Vec<f32>)], t: f64, step: f64) -> Vec<f32> {
        let i = ((t / step).floor() as usize).min(track.len() - 2);
        let w = ((t - track[i].0) / step) as f32;
        let mut v: Vec<f32> = track[i]
            .1
            .iter()
            .zip(&track[i + 1].1)
            .map(|(a, b)| (1.0 - w) * a + w * b)
            .collect();
        reelmap_numeric::l2_normalize(&mut v);
        v
    }

    #[test]
    fn a_clip_is_found_at_its_offset_to_a_fraction_of_a_frame() {
        let source = walk(120, 1.0, 4); // 2 minutes at 1 fps
        let times: Vec<f64> = source.iter().map(|f| f.0).collect();
        let vectors: Vec<Vec<f32>> = source.iter().map(|f| f.1.clone()).collect();
        let informative = vec![true; source.len()];
        let track = Track {
            times: &times,
            vectors: &vectors,
            informative: &informative,
            layouts: None,
        };
        // A 12 s clip starting at 47.3 s, sampled at 4 fps.
        let query: Vec<QueryFrame> = (0..48)
            .map(|i| {
                let t = i as f64 * 0.25;
                QueryFrame::new(t, at(&source, 47.3 + t, 1.0), true)
            })
            .collect();
        let a = align(&query, &track, &[1.0], 4).expect("found");
        assert!((a.offset_s - 47.3).abs() < 0.15, "{a:?}");
        assert_eq!(a.matched, 48);
        assert!(a.query_seconds() > 11.0);
        // Twice as fast: the other video's time runs at 2 s per clip second.
        let fast: Vec<QueryFrame> = (0..24)
            .map(|i| {
                let t = i as f64 * 0.25;
                QueryFrame::new(t, at(&source, 30.0 + 2.0 * t, 1.0), true)
            })
            .collect();
        let a = align(&fast, &track, &[1.0, 2.0], 4).expect("found");
        assert_eq!(a.speed, 2.0);
        assert!((a.offset_s - 30.0).abs() < 0.2, "{a:?}");
        // Another video is not found.
        let other = walk(40, 0.25, 99);
        let q: Vec<QueryFrame> = other
            .into_iter()
            .map(|(t, v)| QueryFrame::new(t, v, true))
            .collect();
        assert!(align(&q, &track, &[1.0], 4).is_none());
    }

    /// Unit vector pulled `mix` of the way from `v` towards a random direction.
    fn degraded(v: &[f32], mix: f32, rng: &mut reelmap_numeric::SplitMix64) -> Vec<f32> {
        let mut u: Vec<f32> = v
            .iter()
            .map(|x| (1.0 - mix) * x + mix * rng.normal() as f32 / (v.len() as f32).sqrt())
            .collect();
        reelmap_numeric::l2_normalize(&mut u);
        u
    }

    #[test]
    fn agreeing_layouts_match_frames_whose_codes_compression_pulled_apart() {
        let source = walk(30, 1.0, 7);
        let layouts_src = walk(30, 1.0, 8);
        let times: Vec<f64> = source.iter().map(|f| f.0).collect();
        let vectors: Vec<Vec<f32>> = source.iter().map(|f| f.1.clone()).collect();
        let layouts: Vec<Vec<f32>> = layouts_src.iter().map(|f| f.1.clone()).collect();
        let informative = vec![true; source.len()];
        let track = Track {
            times: &times,
            vectors: &vectors,
            informative: &informative,
            layouts: Some(&layouts),
        };
        let mut rng = reelmap_numeric::SplitMix64::seeded(9);
        // A heavily compressed copy: codes at cosine ~0.5-0.7 of the original's,
        // layouts nearly the same.
        let copy: Vec<QueryFrame> = (0..30)
            .map(|i| QueryFrame {
                t: i as f64,
                vector: degraded(&vectors[i], 0.55, &mut rng),
                layout: Some(degraded(&layouts[i], 0.1, &mut rng)),
                informative: true,
            })
            .collect();
        let codes: Vec<f32> = copy
            .iter()
            .zip(&vectors)
            .map(|(q, v)| dot(&q.vector, v))
            .collect();
        assert!(
            codes.iter().all(|c| *c < MATCH && *c > LAYOUT_FLOOR),
            "{codes:?}"
        );
        let a = align(&copy, &track, &[1.0], 4).expect("found by the layouts");
        assert!(a.matched >= 28 && a.offset_s.abs() < 0.1, "{a:?}");
        // Without layouts the same codes match nothing.
        let blind: Vec<QueryFrame> = copy
            .iter()
            .map(|q| QueryFrame::new(q.t, q.vector.clone(), true))
            .collect();
        assert!(align(&blind, &track, &[1.0], 4).is_none());
        // Agreeing layouts do not make unrelated pictures match.
        let other = walk(30, 1.0, 10);
        let unrelated: Vec<QueryFrame> = (0..30)
            .map(|i| QueryFrame {
                t: i as f64,
                vector: other[i].1.clone(),
                layout: Some(layouts[i].clone()),
                informative: true,
            })
            .collect();
        assert!(align(&unrelated, &track, &[1.0], 4).is_none());
    }

    #[test]
    fn what_follows_a_shared_intro_counts_as_distinct() {
        let source = walk(12, 1.0, 11);
        let times: Vec<f64> = source.iter().map(|f| f.0).collect();
        let vectors: Vec<Vec<f32>> = source.iter().map(|f| f.1.clone()).collect();
        let informative = vec![true; source.len()];
        let track = Track {
            times: &times,
            vectors: &vectors,
            informative: &informative,
            layouts: None,
        };
        // 8 s of the same intro, then 4 s of other footage.
        let other = walk(12, 1.0, 12);
        let query: Vec<QueryFrame> = (0..12)
            .map(|i| {
                let v = if i < 8 { &vectors[i] } else { &other[i].1 };
                QueryFrame::new(i as f64, v.clone(), true)
            })
            .collect();
        let a = align(&query, &track, &[1.0], 4).expect("the intro aligns");
        assert_eq!((a.matched, a.compared, a.distinct), (8, 12, 4), "{a:?}");
        // The whole video again: nothing distinct.
        let same: Vec<QueryFrame> = (0..12)
            .map(|i| QueryFrame::new(i as f64, vectors[i].clone(), true))
            .collect();
        assert_eq!(align(&same, &track, &[1.0], 4).unwrap().distinct, 0);
    }

    #[test]
    fn uninformative_frames_never_match() {
        let v = vec![1.0f32; 8];
        let times = [0.0, 1.0, 2.0];
        let vectors = vec![v.clone(), v.clone(), v.clone()];
        let track = Track {
            times: &times,
            vectors: &vectors,
            informative: &[false, false, false],
            layouts: None,
        };
        let query: Vec<QueryFrame> = vec![
            QueryFrame::new(0.0, v.clone(), true),
            QueryFrame::new(1.0, v, true),
        ];
        assert!(align(&query, &track, &[1.0], 1).is_none());
    }
}
