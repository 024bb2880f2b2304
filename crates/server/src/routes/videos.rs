//! One video: its details (frames and what they show, change points, similar
//! videos), its poster, frame thumbnails and feature-image strip; and the videos
//! that could not be used.

use super::{file_name, video_dto};
use crate::dto::{self, Frame, FrameClass, Neighbour, VideoDetail};
use crate::error::{ApiError, ApiResult};
use crate::server::{Shared, with_db};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use reelmap_core::clustering::naming::class_name;
use reelmap_core::insights;
use reelmap_core::store::VideoStatus;
use std::collections::HashMap;

pub async fn failed_videos(State(st): State<Shared>) -> ApiResult<Json<Vec<dto::Video>>> {
    let out = with_db(&st, |cat| {
        Ok(cat
            .videos(Some(VideoStatus::Failed))?
            .iter()
            .map(|v| video_dto(v, None, None))
            .collect())
    })
    .await?;
    Ok(Json(out))
}

pub async fn video_detail(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<VideoDetail>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        let Some(v) = cat.video(id)? else {
            return Ok(None);
        };
        let asg = cat.assignments()?.into_iter().find(|a| a.video_id == id);
        let features = cat.frame_features(id, &model)?;
        let frame_list = cat
            .frame_top_classes(id, &model)?
            .into_iter()
            .enumerate()
            .map(|(idx, (ts_ms, top))| Frame {
                idx,
                ts_ms,
                top: top
                    .into_iter()
                    .map(|(class, p)| FrameClass {
                        class,
                        name: class_name(class as usize).to_string(),
                        p,
                    })
                    .collect(),
            })
            .collect();
        let clusters: HashMap<i64, String> = cat
            .clusters()?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        let asg_map = insights::cluster_of_videos(cat)?;
        let nearest = insights::nearest(cat, &model, id, 8)?
            .into_iter()
            .filter_map(|(vid, similarity)| {
                let other = cat.video(vid).ok().flatten()?;
                let cluster_id = asg_map.get(&vid).copied();
                // A copy of this file (same fingerprint, then the same bytes).
                let same_file = v.fingerprint.is_some()
                    && other.fingerprint == v.fingerprint
                    && reelmap_core::scan::same_content(&v.path, &other.path).unwrap_or(false);
                Some(Neighbour {
                    id: vid,
                    name: file_name(&other.display),
                    similarity,
                    cluster_id,
                    cluster: cluster_id.and_then(|c| clusters.get(&c).cloned()),
                    same_file,
                    path: other.display,
                })
            })
            .collect();
        Ok(Some(VideoDetail {
            video: video_dto(&v, asg.as_ref(), Some(features.len() as i64)),
            cluster: asg
                .as_ref()
                .and_then(|a| clusters.get(&a.cluster_id).cloned()),
            frame_list,
            change_points: insights::change_points(&features),
            nearest,
            has_poster: cat.poster(id)?.is_some(),
        }))
    })
    .await?;
    out.map(Json).ok_or_else(|| ApiError::not_found("video"))
}

fn image_response(bytes: Vec<u8>, mime: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub async fn poster(State(st): State<Shared>, UrlPath(id): UrlPath<i64>) -> ApiResult<Response> {
    let jpeg = with_db(&st, move |cat| cat.poster(id)).await?;
    jpeg.map(|b| image_response(b, "image/jpeg"))
        .ok_or_else(|| ApiError::not_found("poster"))
}

pub async fn frame_thumb(
    State(st): State<Shared>,
    UrlPath((id, idx)): UrlPath<(i64, String)>,
) -> ApiResult<Response> {
    let idx: i64 = idx
        .trim_end_matches(".jpg")
        .parse()
        .map_err(|_| ApiError::not_found("frame"))?;
    let model = st.jobs.model().to_string();
    let jpeg = with_db(&st, move |cat| cat.frame_thumb(id, &model, idx)).await?;
    jpeg.map(|b| image_response(b, "image/jpeg"))
        .ok_or_else(|| ApiError::not_found("frame"))
}

pub async fn strip(State(st): State<Shared>, UrlPath(id): UrlPath<i64>) -> ApiResult<Response> {
    let model = st.jobs.model().to_string();
    let st2 = st.clone();
    let png = with_db(&st, move |cat| {
        let frames = cat.frame_features(id, &model)?;
        if frames.is_empty() {
            return Ok(None);
        }
        let current = cat.frame_count(&model)?;
        let scale = {
            let cached = st2.strip_scale.lock().unwrap().clone();
            match cached {
                Some(s) if s.frames == current => s,
                _ => {
                    let s = insights::strip_scale(cat, &model)?;
                    *st2.strip_scale.lock().unwrap() = Some(s.clone());
                    s
                }
            }
        };
        Ok(Some(insights::strip_png(&frames, &scale, 8)?))
    })
    .await?;
    png.map(|b| image_response(b, "image/png"))
        .ok_or_else(|| ApiError::not_found("strip"))
}
