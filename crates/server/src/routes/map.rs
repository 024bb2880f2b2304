//! The 2-D map of videos or frames: the stored layout, and laying it out anew as a
//! job.

use super::file_name;
use crate::dto::{MapCluster, MapData, MapKind};
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobKind, JobStatus};
use crate::server::{Shared, with_db};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use reelmap_core::insights;
use reelmap_core::store::VideoStatus;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct MapQuery {
    kind: Option<String>,
}

fn map_kind(k: Option<String>) -> ApiResult<MapKind> {
    match k.as_deref().unwrap_or("video") {
        "video" => Ok(MapKind::Video),
        "frame" => Ok(MapKind::Frame),
        other => Err(ApiError::invalid(format!(
            "unknown map kind {other:?}: use video or frame"
        ))),
    }
}

pub async fn get_map(
    State(st): State<Shared>,
    Query(q): Query<MapQuery>,
) -> ApiResult<Json<MapData>> {
    let kind = map_kind(q.kind)?;
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        let points = reelmap_core::map::load_map(cat, kind.as_str())?;
        let asg = insights::cluster_of_videos(cat)?;
        Ok(MapData {
            kind,
            current: reelmap_core::map::map_is_current(cat, &model, kind.as_str())?,
            fields: ["video_id", "idx", "x", "y", "cluster_id"]
                .map(String::from)
                .to_vec(),
            points: points
                .iter()
                .map(|p| (p.video_id, p.idx, p.x, p.y, asg.get(&p.video_id).copied()))
                .collect(),
            names: cat
                .videos(Some(VideoStatus::Ok))?
                .into_iter()
                .map(|v| (v.id.to_string(), file_name(&v.display)))
                .collect(),
            clusters: cat
                .clusters()?
                .into_iter()
                .map(|c| MapCluster {
                    id: c.id,
                    name: c.name,
                    kind: c.kind,
                })
                .collect(),
        })
    })
    .await?;
    Ok(Json(out))
}

pub async fn compute_map(
    State(st): State<Shared>,
    Query(q): Query<MapQuery>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let kind = map_kind(q.kind)?;
    let s = st.jobs.start(JobKind::Map(kind.as_str().to_string()))?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}
