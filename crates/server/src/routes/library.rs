//! The library and its background jobs: status, the event stream, adding folders,
//! re-clustering, cancelling.

use crate::dto::{self, Cancelled, Library, LibraryRequest, ReclusterRequest, ServerEvent};
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobKind, JobStatus};
use crate::server::{Shared, with_db};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use reelmap_core::store::VideoStatus;
use std::path::PathBuf;
use tokio::sync::broadcast;

/// The event that carries a job's status.
pub fn job_event(s: &JobStatus) -> String {
    event(&ServerEvent::Job { job: s.clone() })
}

/// The event that tells the page the library changed (`what` changed it).
pub fn library_event(what: &str) -> String {
    event(&ServerEvent::Library {
        what: what.to_string(),
    })
}

fn event(e: &ServerEvent) -> String {
    serde_json::to_string(e).expect("events serialise")
}

pub async fn status(State(st): State<Shared>) -> ApiResult<Json<dto::Status>> {
    let job = st.jobs.status();
    let model = st.jobs.model().to_string();
    let library = with_db(&st, move |cat| {
        let counts = cat.status_counts()?;
        let count = |s: VideoStatus| counts.get(&s).copied().unwrap_or(0);
        Ok(Library {
            videos: count(VideoStatus::Ok) + count(VideoStatus::Failed),
            ok: count(VideoStatus::Ok),
            failed: count(VideoStatus::Failed),
            embedded: cat.embedded_present_count(&model)?,
            clusters: cat.clusters()?.len() as i64,
            roots: cat
                .roots()?
                .into_iter()
                .map(|(_, p)| p.display().to_string())
                .collect(),
            can_undo_edit: cat.can_undo_edit()?,
            can_undo_apply: cat.last_done_batch()?.is_some(),
        })
    })
    .await?;
    Ok(Json(dto::Status {
        library,
        job,
        model: st.jobs.model().to_string(),
    }))
}

pub async fn events(
    State(st): State<Shared>,
) -> Sse<impl futures_util::Stream<Item = std::result::Result<SseEvent, std::convert::Infallible>>>
{
    let rx = st.events.subscribe();
    let first = st.jobs.status().map(|s| job_event(&s));
    let stream = futures_util::stream::unfold((rx, first), |(mut rx, first)| async move {
        if let Some(f) = first {
            return Some((Ok(SseEvent::default().data(f)), (rx, None)));
        }
        loop {
            match rx.recv().await {
                Ok(msg) => return Some((Ok(SseEvent::default().data(msg)), (rx, None))),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures_util::StreamExt::take_until(stream, st.shutdown.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub async fn add_library(
    State(st): State<Shared>,
    Json(req): Json<LibraryRequest>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let mut paths = Vec::new();
    for p in &req.paths {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let expanded = if let Some(rest) = p.strip_prefix("~/") {
            dirs::home_dir().unwrap_or_default().join(rest)
        } else {
            PathBuf::from(p)
        };
        if !expanded.is_dir() {
            return Err(ApiError::invalid(format!(
                "{} is not a folder",
                expanded.display()
            )));
        }
        paths.push(expanded);
    }
    if paths.is_empty() {
        return Err(ApiError::invalid("give at least one folder"));
    }
    let s = st.jobs.start(JobKind::Library(paths))?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

pub async fn cancel_job(State(st): State<Shared>) -> Json<Cancelled> {
    Json(Cancelled {
        cancelled: st.jobs.cancel(),
    })
}

pub async fn recluster(
    State(st): State<Shared>,
    Json(req): Json<ReclusterRequest>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let s = st.jobs.start(JobKind::Recluster {
        k: req.k,
        method: req.method.unwrap_or(reelmap_core::clustering::Method::Mean),
        adapt: req.adapt.unwrap_or(false),
    })?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

/// Starts indexing the videos not indexed yet (the library job does it too, after
/// organising).
pub async fn index(State(st): State<Shared>) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let s = st.jobs.start(JobKind::Index)?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}
