//! Finding footage again: near-duplicates (and setting them aside, journaled), the
//! source of an uploaded clip, and search by words.

use super::video_dto;
use crate::dto::{self, SetAsideRequest};
use crate::error::{ApiError, ApiResult};
use crate::server::{Shared, notify, with_db};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Json;
use reelmap_core::apply::ApplyReport;
use reelmap_core::error::Error;
use reelmap_core::find::ann::FrameIndex;
use reelmap_core::find::{clip, dense, duplicates as dups, search as words};
use reelmap_core::store::{Assignment, Catalogue, VideoRow, VideoStatus};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Usable videos, and how many of them are in the dense index.
fn indexed(cat: &Catalogue, model: &str) -> anyhow::Result<(i64, i64)> {
    let ok = cat
        .status_counts()?
        .get(&VideoStatus::Ok)
        .copied()
        .unwrap_or(0);
    Ok((ok, cat.dense_summary(model)?.0))
}

/// The videos by id, as the UI lists them.
struct Lister {
    videos: HashMap<i64, VideoRow>,
    assignments: HashMap<i64, Assignment>,
}

impl Lister {
    fn new(cat: &Catalogue) -> anyhow::Result<Lister> {
        Ok(Lister {
            videos: cat.videos(None)?.into_iter().map(|v| (v.id, v)).collect(),
            assignments: cat
                .assignments()?
                .into_iter()
                .map(|a| (a.video_id, a))
                .collect(),
        })
    }

    fn video(&self, id: i64) -> Option<dto::Video> {
        self.videos
            .get(&id)
            .map(|v| video_dto(v, self.assignments.get(&id), None))
    }
}

/// The frame index of the catalogue, kept in memory while it is current.
fn frame_index(st: &Shared, cat: &Catalogue, model: &str) -> anyhow::Result<Arc<FrameIndex>> {
    let signature = FrameIndex::signature(cat, model)?;
    let mut cached = st.find_index.lock().unwrap();
    if let Some((s, index)) = cached.as_ref()
        && *s == signature
    {
        return Ok(index.clone());
    }
    let index = Arc::new(FrameIndex::for_catalogue(cat, model)?);
    *cached = Some((signature, index.clone()));
    Ok(index)
}

pub async fn duplicates(State(st): State<Shared>) -> ApiResult<Json<dto::Duplicates>> {
    let model = st.jobs.model().to_string();
    let st2 = st.clone();
    let out = with_db(&st, move |cat| {
        let (videos, indexed) = indexed(cat, &model)?;
        // Comparing every video takes seconds in a large library: the last answer is
        // kept while nothing it depends on changed.
        let key = dups::duplicates_key(cat, &model)?;
        let cached = st2.duplicates.lock().unwrap().clone();
        let groups = match cached {
            Some((k, groups)) if k == key => groups,
            _ => {
                let groups = Arc::new(dups::duplicates(cat, &model, &mut |_, _| {})?);
                *st2.duplicates.lock().unwrap() = Some((key, groups.clone()));
                groups
            }
        };
        let list = Lister::new(cat)?;
        let groups = groups
            .iter()
            .map(|g| dto::DuplicateGroup {
                videos: g.videos.iter().filter_map(|&v| list.video(v)).collect(),
                keep: g.keep,
                pairs: g
                    .pairs
                    .iter()
                    .map(|p| dto::DuplicatePair {
                        a: p.a,
                        b: p.b,
                        speed: p.speed,
                        a_start: p.a_span.0,
                        a_end: p.a_span.1,
                        b_start: p.b_span.0,
                        b_end: p.b_span.1,
                        similarity: p.similarity,
                        a_coverage: p.a_coverage,
                        b_coverage: p.b_coverage,
                    })
                    .collect(),
            })
            .collect();
        Ok(dto::Duplicates {
            videos,
            indexed,
            groups,
        })
    })
    .await?;
    Ok(Json(out))
}

pub async fn set_aside(
    State(st): State<Shared>,
    Json(req): Json<SetAsideRequest>,
) -> ApiResult<Json<ApplyReport>> {
    if req.others.is_empty() {
        return Err(ApiError::invalid("choose at least one video to set aside"));
    }
    let report = with_db(&st, move |cat| dups::set_aside(cat, req.keep, &req.others)).await?;
    notify(&st, "apply");
    Ok(Json(report))
}

#[derive(Deserialize)]
pub struct FindQuery {
    /// The clip's file name (its extension tells the container).
    name: Option<String>,
}

/// Uploads larger than this are refused (a clip, not a film).
pub const MAX_CLIP_BYTES: usize = 2 << 30;

/// POST body: the clip's bytes.
pub async fn find_clip(
    State(st): State<Shared>,
    Query(q): Query<FindQuery>,
    body: Bytes,
) -> ApiResult<Json<dto::FindResult>> {
    if body.is_empty() {
        return Err(ApiError::invalid("the clip is empty"));
    }
    let model = st.jobs.model().to_string();
    let st2 = st.clone();
    let out = with_db(&st, move |cat| {
        let ext = q
            .name
            .as_deref()
            .and_then(|n| std::path::Path::new(n).extension())
            .map(|e| e.to_string_lossy().to_lowercase())
            .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".into());
        let file = tempfile::Builder::new()
            .prefix("reelmap-clip-")
            .suffix(&format!(".{ext}"))
            .tempfile()?;
        std::fs::write(file.path(), &body)?;
        let embedder = st2.jobs.embedder()?;
        let frames = dense::dense_frames_of(
            file.path(),
            clip::CLIP_FPS,
            &embedder,
            &st2.jobs.decode_options(),
            8,
        )
        .map_err(|e| Error::Invalid(format!("cannot read the clip: {e:#}")))?;
        let index = frame_index(&st2, cat, &model)?;
        let found = clip::find_frames(cat, &index, &model, &frames)?;
        let (videos, indexed) = indexed(cat, &model)?;
        let list = Lister::new(cat)?;
        Ok(dto::FindResult {
            clip_s: frames.times.last().map_or(0.0, |&t| t as f64 / 1000.0) + 1.0 / frames.fps,
            videos,
            indexed,
            matches: found
                .into_iter()
                .take(10)
                .filter_map(|m| {
                    Some(dto::ClipMatch {
                        video: list.video(m.video_id)?,
                        offset_s: m.offset_s,
                        matched_s: m.matched_s,
                        coverage: m.coverage,
                        similarity: m.similarity,
                    })
                })
                .collect(),
        })
    })
    .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    limit: Option<usize>,
}

pub async fn search(
    State(st): State<Shared>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<dto::SearchHit>>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        let hits = words::search(cat, &model, &q.q, q.limit.unwrap_or(60).min(500))?;
        let list = Lister::new(cat)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                Some(dto::SearchHit {
                    video: list.video(h.video_id)?,
                    score: h.score,
                    matched: h.matched,
                    frame_index: h.frame.map(|f| f.0),
                    frame_ms: h.frame.map(|f| f.1),
                })
            })
            .collect())
    })
    .await?;
    Ok(Json(out))
}
