//! Clusters, their videos, and people's edits: moving videos, renaming, merging,
//! undo.

use super::video_dto;
use crate::dto::{self, AssignRequest, Cancelled, MergeRequest, RenameRequest, Undone, VideoPage};
use crate::error::{ApiError, ApiResult};
use crate::server::{Shared, notify, with_db};
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Json;
use reelmap_core::error::Error;
use reelmap_core::store::edits::{self, EditResult, Target};
use reelmap_core::store::{Assignment, Source, VideoRow, VideoStatus};
use serde::Deserialize;
use std::collections::HashMap;

pub async fn clusters(State(st): State<Shared>) -> ApiResult<Json<Vec<dto::Cluster>>> {
    let out = with_db(&st, |cat| {
        let asg = cat.assignments()?;
        let posters = cat.videos_with_poster()?;
        let mut by_cluster: HashMap<i64, Vec<i64>> = HashMap::new();
        for a in &asg {
            by_cluster.entry(a.cluster_id).or_default().push(a.video_id);
        }
        Ok(cat
            .clusters()?
            .into_iter()
            .map(|c| {
                let members = by_cluster.get(&c.id).map(Vec::as_slice).unwrap_or(&[]);
                dto::Cluster {
                    id: c.id,
                    name: c.name,
                    name_source: c.name_source,
                    kind: c.kind,
                    concept: c.concept,
                    confidence: c.confidence,
                    count: c.count,
                    mosaic: members
                        .iter()
                        .copied()
                        .filter(|v| posters.contains(v))
                        .take(4)
                        .collect(),
                }
            })
            .collect())
    })
    .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

pub async fn cluster_videos(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Query(page): Query<Page>,
) -> ApiResult<Json<VideoPage>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        if !cat.clusters()?.iter().any(|c| c.id == id) {
            return Err(Error::not_found(format!("no cluster {id}")));
        }
        let asg: Vec<Assignment> = cat
            .assignments()?
            .into_iter()
            .filter(|a| a.cluster_id == id)
            .collect();
        let videos: HashMap<i64, VideoRow> = cat
            .videos(Some(VideoStatus::Ok))?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut rows: Vec<(&Assignment, &VideoRow)> = asg
            .iter()
            .filter_map(|a| videos.get(&a.video_id).map(|v| (a, v)))
            .collect();
        // Best-fitting first, people's choices at the top.
        rows.sort_by(|a, b| {
            (a.0.source != Source::User)
                .cmp(&(b.0.source != Source::User))
                .then(
                    a.0.distance
                        .unwrap_or(0.0)
                        .total_cmp(&b.0.distance.unwrap_or(0.0)),
                )
                .then(a.1.id.cmp(&b.1.id))
        });
        let counts = cat.frame_counts(&model)?;
        let total = rows.len();
        let offset = page.offset.unwrap_or(0).min(total);
        let limit = page.limit.unwrap_or(200).min(2000);
        let videos = rows[offset..(offset + limit).min(total)]
            .iter()
            .map(|(a, v)| video_dto(v, Some(a), counts.get(&v.id).copied()))
            .collect();
        Ok(VideoPage {
            total,
            offset,
            videos,
        })
    })
    .await?;
    Ok(Json(out))
}

pub async fn assign(
    State(st): State<Shared>,
    Json(req): Json<AssignRequest>,
) -> ApiResult<Json<EditResult>> {
    let target = match (req.cluster, req.new_folder) {
        (Some(c), None) => Target::Cluster(c),
        (None, Some(n)) => Target::New(n),
        _ => return Err(ApiError::invalid("give either cluster or new_folder")),
    };
    let r = with_db(&st, move |cat| {
        edits::move_videos(cat, &req.videos, &target)
    })
    .await?;
    notify(&st, "assign");
    Ok(Json(r))
}

pub async fn rename_cluster(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Json(req): Json<RenameRequest>,
) -> ApiResult<Json<EditResult>> {
    let r = with_db(&st, move |cat| edits::rename(cat, id, &req.name)).await?;
    notify(&st, "rename");
    Ok(Json(r))
}

pub async fn merge_cluster(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Json(req): Json<MergeRequest>,
) -> ApiResult<Json<EditResult>> {
    let r = with_db(&st, move |cat| edits::merge(cat, id, req.into)).await?;
    notify(&st, "merge");
    Ok(Json(r))
}

pub async fn undo_edit(State(st): State<Shared>) -> ApiResult<Json<Undone>> {
    let undone = with_db(&st, edits::undo_last).await?;
    if undone.is_some() {
        notify(&st, "undo");
    }
    Ok(Json(Undone { undone }))
}

pub async fn suggestions(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<Vec<dto::Suggestion>>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        if !cat.clusters()?.iter().any(|c| c.id == id) {
            return Err(Error::not_found(format!("no cluster {id}")));
        }
        let asg: HashMap<i64, Assignment> = cat
            .assignments()?
            .into_iter()
            .map(|a| (a.video_id, a))
            .collect();
        let mut out = Vec::new();
        for s in reelmap_core::learn::suggestions(cat, &model, id, 24)? {
            if let Some(v) = cat.video(s.video_id)? {
                out.push(dto::Suggestion {
                    video: video_dto(&v, asg.get(&v.id), None),
                    score: s.score,
                    reason: s.reason.to_string(),
                });
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}

pub async fn reject_suggestion(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Json(req): Json<dto::RejectRequest>,
) -> ApiResult<Json<Cancelled>> {
    with_db(&st, move |cat| {
        if cat.video(req.video)?.is_none() || !cat.clusters()?.iter().any(|c| c.id == id) {
            return Err(Error::not_found("no such video or cluster"));
        }
        cat.reject_suggestion(req.video, id)
    })
    .await?;
    notify(&st, "reject");
    Ok(Json(Cancelled { cancelled: true }))
}
