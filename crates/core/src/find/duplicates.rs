//! Near-duplicate videos: the same footage re-encoded, resized, cropped, trimmed,
//! sped up or slowed down, found by aligning dense frames, and set aside (never
//! deleted) through the journal.

use super::align::{Alignment, align};
use super::ann::FrameIndex;
use super::dense::DenseFrames;
use super::{CANDIDATES, Other, candidate_votes, query_frames};
use crate::store::Catalogue;
use anyhow::Result;
use rayon::prelude::*;
use std::collections::HashMap;

/// Playback speeds a duplicate may have against the original.
pub const DUPLICATE_SPEEDS: [f64; 7] = [1.0, 0.8, 1.25, 0.667, 1.5, 0.5, 2.0];

/// Two videos showing the same footage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DuplicatePair {
    pub a: i64,
    pub b: i64,
    /// `b`'s time = speed × `a`'s time + offset.
    pub speed: f64,
    pub offset_s: f64,
    /// The matched span in each, seconds.
    pub a_span: (f64, f64),
    pub b_span: (f64, f64),
    pub similarity: f32,
    /// Share of each video's informative time the match covers.
    pub a_coverage: f64,
    pub b_coverage: f64,
}

/// Videos showing the same footage, and the pairs that tie them together.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DuplicateGroup {
    pub videos: Vec<i64>,
    pub pairs: Vec<DuplicatePair>,
    /// The one to keep unless the person chooses: the largest picture, then the
    /// longest, then the largest file.
    pub keep: i64,
}

/// A candidate must be among the neighbours of this share of the frames looked up:
/// a duplicate covers most of a video, so one found by a few frames only (a shared
/// intro, a similar shot) is not worth aligning.
const MIN_VOTE_SHARE: f64 = 0.25;

/// Copies the codes do not find (heavy compression changes what the network sees)
/// are looked for by their mean layouts too: each video's few nearest whose mean
/// layouts (pooled to 8 × 8) correlate this well are aligned as well. A heavily
/// compressed copy correlates with its original at 0.99; the pair is confirmed frame
/// by frame like any other.
const LAYOUT_CANDIDATE_SIM: f32 = 0.9;
const LAYOUT_CANDIDATES: usize = 5;

/// The share of the shorter video the match must cover...
const MIN_SHORT_COVERAGE: f64 = 0.8;
/// ...and of the longer one: a clip cut from a long video, or a shared intro, covers
/// only a part of one of them.
const MIN_LONG_COVERAGE: f64 = 0.5;

/// At most this share of the frames compared may show clearly other pictures.
const MAX_DISTINCT_SHARE: f64 = 0.15;

/// Whether an alignment of `a` in `b` makes them duplicates, and the pair if so.
fn duplicate_pair(
    a: (i64, &DenseFrames),
    b: (i64, &DenseFrames),
    al: &Alignment,
) -> Option<DuplicatePair> {
    let (sa, sb) = (a.1.informative_seconds(), b.1.informative_seconds());
    if sa <= 0.0 || sb <= 0.0 {
        return None;
    }
    // Matched seconds, counted as frames (first-to-last can span a gap).
    let a_matched = al.matched as f64 / a.1.fps.max(1e-6);
    let a_cov = (a_matched / sa).min(1.0);
    let b_cov = ((a_matched * al.speed) / sb).min(1.0);
    let (short, long) = if sa * al.speed <= sb {
        (a_cov, b_cov)
    } else {
        (b_cov, a_cov)
    };
    // Where both videos run, they must show the same pictures: two videos behind
    // one intro show different ones after it (a degraded copy dips, but not this low).
    let max_distinct = (MAX_DISTINCT_SHARE * al.compared as f64).max(1.0);
    let same_throughout = al.distinct as f64 <= max_distinct;
    (short >= MIN_SHORT_COVERAGE && long >= MIN_LONG_COVERAGE && same_throughout).then_some(
        DuplicatePair {
            a: a.0,
            b: b.0,
            speed: al.speed,
            offset_s: al.offset_s,
            a_span: al.query_span,
            b_span: al.other_span,
            similarity: al.similarity,
            a_coverage: a_cov,
            b_coverage: b_cov,
        },
    )
}

/// A digest of everything [`duplicates`] reads (the dense index and which videos are
/// set aside): equal digests, same answer, so a front end can keep the last one.
pub fn duplicates_key(cat: &Catalogue, model: &str) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    FrameIndex::signature(cat, model)?.hash(&mut h);
    set_aside_videos(cat)?.hash(&mut h);
    Ok(h.finish())
}

/// Videos already set aside (in a "Duplicates" folder), in id order: they are not
/// duplicates any more.
fn set_aside_videos(cat: &Catalogue) -> Result<std::collections::BTreeSet<i64>> {
    Ok(cat
        .videos(Some(crate::store::VideoStatus::Ok))?
        .into_iter()
        .filter(|v| crate::plan::is_set_aside(&v.path))
        .map(|v| v.id)
        .collect())
}

/// Every group of near-duplicate videos of the library (re-encodes, resized,
/// cropped, trimmed, sped up or slowed down), found by aligning their dense frames:
/// a shared intro, outro or black frames alone do not make two videos duplicates.
pub fn duplicates(
    cat: &Catalogue,
    model: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<DuplicateGroup>> {
    let set_aside = set_aside_videos(cat)?;
    let mut videos = cat.all_dense_frames(model)?;
    videos.retain(|(id, _)| !set_aside.contains(id));
    // The saved graph of the whole library (built when missing); set-aside videos
    // found through it are passed over below.
    let index = FrameIndex::for_catalogue(cat, model)?;
    let by_id: HashMap<i64, usize> = videos
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    progress(0, videos.len());
    // Candidates of every video, from the graph.
    let found: Vec<(Vec<(i64, usize)>, usize)> = videos
        .par_iter()
        .map(|(id, d)| {
            if d.informative.iter().any(|x| *x) {
                candidate_votes(&index, d, Some(*id), CANDIDATES)
            } else {
                (vec![], 0)
            }
        })
        .collect();
    progress(videos.len() / 2, videos.len());
    // The pairs worth aligning, each once (from the side of the smaller id), and
    // whether at every playback speed: a pair only the mean layouts found is
    // aligned at normal speed (a copy at another speed shows other pictures at the
    // same time, so the codes find it; the layouts are for heavy compression).
    let mut todo: std::collections::BTreeMap<(usize, usize), bool> = Default::default();
    for (i, (votes, looked)) in found.iter().enumerate() {
        for &(other, n) in votes {
            let Some(&j) = by_id.get(&other) else {
                continue;
            };
            if n as f64 >= MIN_VOTE_SHARE * *looked as f64 {
                todo.insert((i.min(j), i.max(j)), true);
            }
        }
    }
    for pair in layout_candidates(&videos) {
        todo.entry(pair).or_insert(false);
    }
    let todo: Vec<((usize, usize), bool)> = todo.into_iter().collect();
    let pairs: Vec<DuplicatePair> = todo
        .par_iter()
        .filter_map(|&((i, j), all_speeds)| {
            let ((a, da), (b, db)) = (&videos[i], &videos[j]);
            let informative = da.informative.iter().filter(|x| **x).count();
            let min_matched = (informative as f64 * 0.3).ceil().max(2.0) as usize;
            let track = Other::of(db);
            let al = align(
                &query_frames(da),
                &track.track(),
                if all_speeds {
                    &DUPLICATE_SPEEDS
                } else {
                    &DUPLICATE_SPEEDS[..1]
                },
                min_matched,
            )?;
            duplicate_pair((*a, da), (*b, db), &al)
        })
        .collect();
    progress(videos.len(), videos.len());
    let mut groups = group(pairs);
    for g in &mut groups {
        g.keep = best_to_keep(cat, &g.videos)?;
    }
    Ok(groups)
}

/// Pairs of videos (indices, smaller first) whose mean layouts are close (see
/// [`LAYOUT_CANDIDATE_SIM`]). Every video is compared with every other: 64 values
/// each, a second for 10 000 videos.
fn layout_candidates(videos: &[(i64, DenseFrames)]) -> Vec<(usize, usize)> {
    use super::dense::LAYOUT_SIDE;
    let means: Vec<Option<Vec<f32>>> = videos
        .par_iter()
        .map(|(_, d)| {
            let m = d.mean_layout()?;
            // 2 × 2 cells pooled into one.
            let half = LAYOUT_SIDE / 2;
            let mut pooled = vec![0f32; half * half];
            for (i, x) in m.iter().enumerate() {
                let (r, c) = (i / LAYOUT_SIDE, i % LAYOUT_SIDE);
                pooled[(r / 2) * half + c / 2] += x;
            }
            reelmap_numeric::l2_normalize(&mut pooled);
            Some(pooled)
        })
        .collect();
    (0..videos.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut near: Vec<(f32, usize)> = match &means[i] {
                None => vec![],
                Some(a) => means
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .filter_map(|(j, b)| Some((reelmap_numeric::dot(a, b.as_ref()?), j)))
                    .filter(|(s, _)| *s >= LAYOUT_CANDIDATE_SIM)
                    .collect(),
            };
            near.sort_by(|x, y| y.0.total_cmp(&x.0));
            near.truncate(LAYOUT_CANDIDATES);
            near.into_iter().map(move |(_, j)| (i.min(j), i.max(j)))
        })
        .collect()
}

/// The video of a group most worth keeping: the largest picture, then the longest,
/// then the largest file (the least compressed), then the first found.
pub fn best_to_keep(cat: &Catalogue, videos: &[i64]) -> Result<i64> {
    let mut best: Option<((i64, i64, i64, i64), i64)> = None;
    for &id in videos {
        let Some(v) = cat.video(id)? else { continue };
        let key = (
            v.width.unwrap_or(0) * v.height.unwrap_or(0),
            v.duration_ms.unwrap_or(0) / 500,
            v.size,
            -id,
        );
        if best.is_none_or(|(k, _)| key > k) {
            best = Some((key, id));
        }
    }
    Ok(best.map_or(videos.first().copied().unwrap_or(0), |(_, id)| id))
}

/// Groups the pairs by connected videos.
fn group(pairs: Vec<DuplicatePair>) -> Vec<DuplicateGroup> {
    let mut parent: HashMap<i64, i64> = HashMap::new();
    fn root(parent: &mut HashMap<i64, i64>, x: i64) -> i64 {
        let p = *parent.entry(x).or_insert(x);
        if p == x {
            return x;
        }
        let r = root(parent, p);
        parent.insert(x, r);
        r
    }
    for p in &pairs {
        let (ra, rb) = (root(&mut parent, p.a), root(&mut parent, p.b));
        if ra != rb {
            parent.insert(ra.max(rb), ra.min(rb));
        }
    }
    let mut groups: HashMap<i64, DuplicateGroup> = HashMap::new();
    for p in pairs {
        let r = root(&mut parent, p.a);
        let g = groups.entry(r).or_insert_with(|| DuplicateGroup {
            videos: vec![],
            pairs: vec![],
            keep: 0,
        });
        for v in [p.a, p.b] {
            if !g.videos.contains(&v) {
                g.videos.push(v);
            }
        }
        g.pairs.push(p);
    }
    let mut out: Vec<DuplicateGroup> = groups.into_values().collect();
    for g in &mut out {
        g.videos.sort_unstable();
    }
    out.sort_by_key(|g| g.videos[0]);
    out
}

/// Sets aside the duplicates of `keep`: each of `others` moves into a
/// [`DUPLICATES_FOLDER`](crate::plan::DUPLICATES_FOLDER) folder at the top of its
/// scanned folder, as one journal batch (`reelmap undo` puts them back). Nothing is
/// deleted; videos set aside are left out of later duplicate searches and folder
/// plans.
pub fn set_aside(
    cat: &mut Catalogue,
    keep: i64,
    others: &[i64],
) -> Result<crate::apply::ApplyReport> {
    use crate::error::Error;
    if others.contains(&keep) {
        return Err(
            Error::Invalid("the video to keep is also among those set aside".into()).into(),
        );
    }
    if cat.video(keep)?.is_none() {
        return Err(Error::NotFound(format!("video {keep}")).into());
    }
    let plan = crate::plan::set_aside_plan(cat, others)?;
    crate::apply::apply(cat, &plan, crate::store::Mode::Move)
}
