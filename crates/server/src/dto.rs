//! What the API sends and receives, as types. The web UI's TypeScript types are
//! generated from these (`ui/src/generated/api.ts`, checked by a test), so that the
//! two cannot drift apart.

use crate::jobs::JobStatus;
use reelmap_core::apply::{ApplyReport, BatchInfo, UndoReport};
use reelmap_core::clustering::Method;
use reelmap_core::insights::ChangePoint;
use reelmap_core::plan::{Plan, PlanItem};
use reelmap_core::store::edits::EditResult;
use reelmap_core::store::{ClusterKind, Mode, Source, VideoStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Counts and state of the library.
#[derive(Debug, Serialize, TS)]
pub struct Library {
    /// Videos found and still there (usable or not).
    pub videos: i64,
    pub ok: i64,
    pub failed: i64,
    /// Usable videos embedded with the server's model.
    pub embedded: i64,
    pub clusters: i64,
    pub roots: Vec<String>,
    pub can_undo_edit: bool,
    pub can_undo_apply: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct Status {
    pub library: Library,
    pub job: Option<JobStatus>,
    pub model: String,
}

#[derive(Debug, Serialize, TS)]
pub struct Cluster {
    pub id: i64,
    pub name: String,
    pub name_source: Source,
    pub kind: ClusterKind,
    pub concept: Option<String>,
    pub confidence: Option<f64>,
    pub count: i64,
    /// Up to four member videos that have a poster, for the card's mosaic.
    pub mosaic: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Video {
    pub id: i64,
    /// The file name.
    pub name: String,
    pub path: String,
    pub status: VideoStatus,
    pub error: Option<String>,
    pub error_stage: Option<String>,
    pub duration_ms: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    pub codec: Option<String>,
    pub container: Option<String>,
    pub size: Option<i64>,
    pub cluster_id: Option<i64>,
    pub assigned_by: Option<Source>,
    /// Sampled frames, when known.
    pub frame_count: Option<i64>,
}

#[derive(Debug, Serialize, TS)]
pub struct VideoPage {
    pub total: usize,
    pub offset: usize,
    pub videos: Vec<Video>,
}

/// One of a frame's most probable ImageNet classes.
#[derive(Debug, Serialize, TS)]
pub struct FrameClass {
    pub class: u16,
    pub name: String,
    pub p: f32,
}

#[derive(Debug, Serialize, TS)]
pub struct Frame {
    pub idx: usize,
    pub ts_ms: i64,
    pub top: Vec<FrameClass>,
}

/// A similar video.
#[derive(Debug, Serialize, TS)]
pub struct Neighbour {
    pub id: i64,
    pub name: String,
    pub similarity: f32,
    pub cluster_id: Option<i64>,
    pub cluster: Option<String>,
    /// The same bytes as the video shown: a copy of its file.
    pub same_file: bool,
    pub path: String,
}

#[derive(Debug, Serialize, TS)]
pub struct VideoDetail {
    #[serde(flatten)]
    pub video: Video,
    pub cluster: Option<String>,
    #[serde(rename = "frames")]
    #[ts(rename = "frames")]
    pub frame_list: Vec<Frame>,
    pub change_points: Vec<ChangePoint>,
    pub nearest: Vec<Neighbour>,
    pub has_poster: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum MapKind {
    Video,
    Frame,
}

impl MapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MapKind::Video => "video",
            MapKind::Frame => "frame",
        }
    }
}

#[derive(Debug, Serialize, TS)]
pub struct MapCluster {
    pub id: i64,
    pub name: String,
    pub kind: ClusterKind,
}

#[derive(Debug, Serialize, TS)]
pub struct MapData {
    pub kind: MapKind,
    /// Whether the stored map was made from the library as it is now.
    pub current: bool,
    pub fields: Vec<String>,
    /// (video id, frame index or -1, x, y, cluster id).
    pub points: Vec<(i64, i64, f32, f32, Option<i64>)>,
    /// File names by video id, for tooltips.
    pub names: std::collections::BTreeMap<String, String>,
    pub clusters: Vec<MapCluster>,
}

#[derive(Debug, Serialize, TS)]
pub struct Cancelled {
    pub cancelled: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct Undone {
    /// What was undone, or null when there was nothing to undo.
    pub undone: Option<String>,
}

/// What the event stream sends.
#[derive(Debug, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Job { job: JobStatus },
    Library { what: String },
}

// ----- requests -----

#[derive(Debug, Deserialize, TS)]
pub struct LibraryRequest {
    pub paths: Vec<String>,
}

#[derive(Debug, Deserialize, TS)]
pub struct ReclusterRequest {
    pub k: Option<usize>,
    /// "mean" (default), "adapt" or "scan".
    #[serde(default)]
    #[ts(optional)]
    pub method: Option<Method>,
    /// Train the head adapted to the library first ("Adapt to my library").
    #[serde(default)]
    #[ts(optional)]
    pub adapt: Option<bool>,
}

/// A video that probably belongs in a cluster.
#[derive(Debug, Serialize, TS)]
pub struct Suggestion {
    pub video: Video,
    pub score: f32,
    /// "taught": the person's own videos of this cluster point to it; "closer":
    /// nearly as close to this cluster as to its own.
    pub reason: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct RejectRequest {
    pub video: i64,
}

#[derive(Debug, Deserialize, TS)]
pub struct AssignRequest {
    pub videos: Vec<i64>,
    pub cluster: Option<i64>,
    pub new_folder: Option<String>,
}

#[derive(Debug, Deserialize, TS)]
pub struct RenameRequest {
    pub name: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct MergeRequest {
    pub into: i64,
}

#[derive(Debug, Deserialize, TS)]
pub struct ApplyRequest {
    pub mode: Option<Mode>,
    pub target: Option<String>,
}

/// Two videos showing the same footage: `b`'s time = speed × `a`'s time + offset.
#[derive(Debug, Serialize, TS)]
pub struct DuplicatePair {
    pub a: i64,
    pub b: i64,
    pub speed: f64,
    /// The matched span of each, seconds.
    pub a_start: f64,
    pub a_end: f64,
    pub b_start: f64,
    pub b_end: f64,
    pub similarity: f32,
    /// Share of each video's informative time the match covers.
    pub a_coverage: f64,
    pub b_coverage: f64,
}

/// Videos showing the same footage; `keep` is the suggested one to keep.
#[derive(Debug, Serialize, TS)]
pub struct DuplicateGroup {
    pub videos: Vec<Video>,
    pub keep: i64,
    pub pairs: Vec<DuplicatePair>,
}

#[derive(Debug, Serialize, TS)]
pub struct Duplicates {
    /// Usable videos, and how many of them have the dense index duplicates need.
    pub videos: i64,
    pub indexed: i64,
    pub groups: Vec<DuplicateGroup>,
}

/// Keep one video of a group and move the others into the "Duplicates" folder
/// (journaled, undone by the folders' undo).
#[derive(Debug, Deserialize, TS)]
pub struct SetAsideRequest {
    pub keep: i64,
    pub others: Vec<i64>,
}

/// Where a clip was found.
#[derive(Debug, Serialize, TS)]
pub struct ClipMatch {
    pub video: Video,
    /// Where in the video the clip starts, seconds.
    pub offset_s: f64,
    /// Seconds of the clip matched, and their share of the clip.
    pub matched_s: f64,
    pub coverage: f64,
    pub similarity: f32,
}

#[derive(Debug, Serialize, TS)]
pub struct FindResult {
    /// Length of the clip searched for, seconds.
    pub clip_s: f64,
    /// Usable videos, and how many are indexed (the others cannot be found yet).
    pub videos: i64,
    pub indexed: i64,
    pub matches: Vec<ClipMatch>,
}

#[derive(Debug, Serialize, TS)]
pub struct SearchHit {
    pub video: Video,
    pub score: f32,
    /// What matched: "name", "folder", "cluster", or a concept's name.
    pub matched: Vec<String>,
    /// The best-matching frame (for its thumbnail) and its time, ms.
    pub frame_index: Option<i64>,
    pub frame_ms: Option<i64>,
}

/// The TypeScript declarations of every type above and of the engine's types they
/// use, in a fixed order: the content of `ui/src/generated/api.ts`.
pub fn typescript() -> String {
    use crate::jobs::JobState;
    use reelmap_core::store::BatchState;
    let decls = [
        JobState::decl(),
        JobStatus::decl(),
        Library::decl(),
        Status::decl(),
        Source::decl(),
        ClusterKind::decl(),
        VideoStatus::decl(),
        Cluster::decl(),
        Video::decl(),
        VideoPage::decl(),
        FrameClass::decl(),
        Frame::decl(),
        ChangePoint::decl(),
        Neighbour::decl(),
        VideoDetail::decl(),
        MapKind::decl(),
        MapCluster::decl(),
        MapData::decl(),
        EditResult::decl(),
        PlanItem::decl(),
        Plan::decl(),
        Mode::decl(),
        ApplyReport::decl(),
        UndoReport::decl(),
        BatchState::decl(),
        BatchInfo::decl(),
        Cancelled::decl(),
        Undone::decl(),
        ServerEvent::decl(),
        LibraryRequest::decl(),
        Method::decl(),
        ReclusterRequest::decl(),
        Suggestion::decl(),
        RejectRequest::decl(),
        AssignRequest::decl(),
        RenameRequest::decl(),
        MergeRequest::decl(),
        ApplyRequest::decl(),
        DuplicatePair::decl(),
        DuplicateGroup::decl(),
        Duplicates::decl(),
        SetAsideRequest::decl(),
        ClipMatch::decl(),
        FindResult::decl(),
        SearchHit::decl(),
    ];
    let mut out = String::from(
        "// Generated from crates/server/src/dto.rs (and the engine types it uses) by the\n\
         // test `dto::tests::typescript_types_are_current`: do not edit.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        // JSON has one kind of number: the 64-bit integers are ids and counts far
        // below 2^53, which JavaScript's numbers hold exactly.
        out.push_str(&d.replace("bigint", "number"));
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    /// The UI's generated types match these. When they do not, the file is written
    /// anew and the test fails once: commit the new file.
    #[test]
    fn typescript_types_are_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/api.ts");
        let want = super::typescript();
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
            panic!(
                "{} was out of date and has been regenerated: rebuild the UI and commit it",
                path.display()
            );
        }
    }
}
