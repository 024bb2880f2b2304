//! The handlers, one module per part of the UI: the library and its jobs, clusters
//! and people's edits, videos (details, images), the media files themselves, the
//! map, the folders on disk, finding footage again, and the UI's own files.

pub mod clusters;
pub mod find;
pub mod folders;
pub mod library;
pub mod map;
pub mod media;
pub mod ui;
pub mod videos;

use crate::dto;
use reelmap_core::store::{Assignment, VideoRow};
use std::path::Path;

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// A video as the UI lists it.
fn video_dto(v: &VideoRow, asg: Option<&Assignment>, frames: Option<i64>) -> dto::Video {
    dto::Video {
        id: v.id,
        name: file_name(&v.display),
        path: v.display.clone(),
        status: v.status,
        error: v.error.clone(),
        error_stage: v.error_stage.clone(),
        duration_ms: v.duration_ms,
        width: v.width,
        height: v.height,
        fps: v.fps,
        codec: v.codec.clone(),
        container: v.container.clone(),
        size: Some(v.size),
        cluster_id: asg.map(|a| a.cluster_id),
        assigned_by: asg.map(|a| a.source),
        frame_count: frames,
    }
}
