//! The video files themselves, for the player: by catalogue id only (never by
//! path), with single-range support so that browsers can seek.

use crate::error::{ApiError, ApiResult};
use crate::server::{Shared, with_db};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use reelmap_core::store::VideoStatus;

/// The video file, by catalogue id only, with single-range support
/// (`Range: bytes=a-b`, `a-`, `-n`).
pub async fn media(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let path = with_db(&st, move |cat| {
        Ok(cat
            .video(id)?
            .filter(|v| v.status != VideoStatus::Gone)
            .map(|v| v.path))
    })
    .await?
    .ok_or_else(|| ApiError::not_found("video"))?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found("video file"))?;
    let len = file
        .metadata()
        .await
        .map_err(|_| ApiError::not_found("video file"))?
        .len();
    let mime = reelmap_media::container::mime_type(&path);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .map(|r| r.split(',').next().unwrap_or("").trim().to_string());
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Some(r) = range else {
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, mime)
            .header(header::CONTENT_LENGTH, len)
            .header(header::ACCEPT_RANGES, "bytes")
            .body(body)
            .unwrap());
    };
    let (start, end) = match r.split_once('-') {
        Some(("", n)) => {
            let n: u64 = n.parse().unwrap_or(0);
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        Some((a, "")) => (a.parse().unwrap_or(u64::MAX), len.saturating_sub(1)),
        Some((a, b)) => (
            a.parse().unwrap_or(u64::MAX),
            b.parse::<u64>().unwrap_or(0).min(len.saturating_sub(1)),
        ),
        None => (u64::MAX, 0),
    };
    if len == 0 || start >= len || end < start {
        return Ok(Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .body(Body::empty())
            .unwrap());
    }
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let n = end - start + 1;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(n)));
    Ok(Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(header::CONTENT_TYPE, mime)
        .header(header::CONTENT_LENGTH, n)
        .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
        .header(header::ACCEPT_RANGES, "bytes")
        .body(body)
        .unwrap())
}
