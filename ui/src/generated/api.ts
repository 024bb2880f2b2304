// Generated from crates/server/src/dto.rs (and the engine types it uses) by the
// test `dto::tests::typescript_types_are_current`: do not edit.

export type JobState = "running" | "done" | "failed" | "cancelled";

export type JobStatus = { id: number, 
/**
 * "library", "recluster", "map:video" or "map:frame".
 */
kind: string, state: JobState, stage: string, done: number, total: number, current: string, 
/**
 * Files that could not be used so far: (path, reason).
 */
errors: Array<[string, string]>, message: string, elapsed_s: number, 
/**
 * Seconds left in the current stage, when it can be estimated.
 */
eta_s: number | null, };

export type Library = { 
/**
 * Videos found and still there (usable or not).
 */
videos: number, ok: number, failed: number, 
/**
 * Usable videos embedded with the server's model.
 */
embedded: number, clusters: number, roots: Array<string>, can_undo_edit: boolean, can_undo_apply: boolean, };

export type Status = { library: Library, job: JobStatus | null, model: string, };

export type Source = "auto" | "user";

export type ClusterKind = "normal" | "unsorted";

export type VideoStatus = "ok" | "failed" | "gone";

export type Cluster = { id: number, name: string, name_source: Source, kind: ClusterKind, concept: string | null, confidence: number | null, count: number, 
/**
 * Up to four member videos that have a poster, for the card's mosaic.
 */
mosaic: Array<number>, };

export type Video = { id: number, 
/**
 * The file name.
 */
name: string, path: string, status: VideoStatus, error: string | null, error_stage: string | null, duration_ms: number | null, width: number | null, height: number | null, fps: number | null, codec: string | null, container: string | null, size: number | null, cluster_id: number | null, assigned_by: Source | null, 
/**
 * Sampled frames, when known.
 */
frame_count: number | null, };

export type VideoPage = { total: number, offset: number, videos: Array<Video>, };

export type FrameClass = { class: number, name: string, p: number, };

export type Frame = { idx: number, ts_ms: number, top: Array<FrameClass>, };

export type ChangePoint = { idx: number, ts_ms: number, 
/**
 * Cosine distance between the two frames' features.
 */
score: number, };

export type Neighbour = { id: number, name: string, similarity: number, cluster_id: number | null, cluster: string | null, 
/**
 * The same bytes as the video shown: a copy of its file.
 */
same_file: boolean, path: string, };

export type VideoDetail = { cluster: string | null, frames: Array<Frame>, change_points: Array<ChangePoint>, nearest: Array<Neighbour>, has_poster: boolean, id: number, 
/**
 * The file name.
 */
name: string, path: string, status: VideoStatus, error: string | null, error_stage: string | null, duration_ms: number | null, width: number | null, height: number | null, fps: number | null, codec: string | null, container: string | null, size: number | null, cluster_id: number | null, assigned_by: Source | null, 
/**
 * Sampled frames, when known.
 */
frame_count: number | null, };

export type MapKind = "video" | "frame";

export type MapCluster = { id: number, name: string, kind: ClusterKind, };

export type MapData = { kind: MapKind, 
/**
 * Whether the stored map was made from the library as it is now.
 */
current: boolean, fields: Array<string>, 
/**
 * (video id, frame index or -1, x, y, cluster id).
 */
points: Array<[number, number, number, number, number | null]>, 
/**
 * File names by video id, for tooltips.
 */
names: { [key in string]?: string }, clusters: Array<MapCluster>, };

export type EditResult = { edit_id: number, summary: string, 
/**
 * The cluster the videos went to (new clusters included).
 */
cluster_id: number | null, };

export type PlanItem = { video_id: number, cluster_id: number, folder: string, from: string, to: string, 
/**
 * (from, to) of subtitles, .nfo files and thumbnails named after the video.
 */
companions: Array<[string, string]>, };

export type Plan = { base: string, 
/**
 * Cluster id → folder name (made safe and unique, case-insensitively).
 */
folders: Array<[number, string]>, items: Array<PlanItem>, 
/**
 * Videos already where the plan wants them.
 */
unchanged: number, };

export type Mode = "move" | "link" | "copy";

export type ApplyReport = { batch_id: number | null, files_done: number, folders_created: number, 
/**
 * (path, reason) of files left where they were.
 */
failed: Array<[string, string]>, };

export type UndoReport = { batch_id: number | null, files_restored: number, failed: Array<[string, string]>, };

export type BatchState = "running" | "done" | "undoing" | "undone";

export type BatchInfo = { id: number, mode: Mode, base: string, state: BatchState, created_at: number, files: number, failed: number, };

export type Cancelled = { cancelled: boolean, };

export type Undone = { 
/**
 * What was undone, or null when there was nothing to undo.
 */
undone: string | null, };

export type ServerEvent = { "type": "job", job: JobStatus, } | { "type": "library", what: string, };

export type LibraryRequest = { paths: Array<string>, };

export type Method = "mean" | "adapt" | "scan";

export type ReclusterRequest = { k: number | null, 
/**
 * "mean" (default), "adapt" or "scan".
 */
method?: Method, 
/**
 * Train the head adapted to the library first ("Adapt to my library").
 */
adapt?: boolean, };

export type Suggestion = { video: Video, score: number, 
/**
 * "taught": the person's own videos of this cluster point to it; "closer":
 * nearly as close to this cluster as to its own.
 */
reason: string, };

export type RejectRequest = { video: number, };

export type AssignRequest = { videos: Array<number>, cluster: number | null, new_folder: string | null, };

export type RenameRequest = { name: string, };

export type MergeRequest = { into: number, };

export type ApplyRequest = { mode: Mode | null, target: string | null, };

export type DuplicatePair = { a: number, b: number, speed: number, 
/**
 * The matched span of each, seconds.
 */
a_start: number, a_end: number, b_start: number, b_end: number, similarity: number, 
/**
 * Share of each video's informative time the match covers.
 */
a_coverage: number, b_coverage: number, };

export type DuplicateGroup = { videos: Array<Video>, keep: number, pairs: Array<DuplicatePair>, };

export type Duplicates = { 
/**
 * Usable videos, and how many of them have the dense index duplicates need.
 */
videos: number, indexed: number, groups: Array<DuplicateGroup>, };

export type SetAsideRequest = { keep: number, others: Array<number>, };

export type ClipMatch = { video: Video, 
/**
 * Where in the video the clip starts, seconds.
 */
offset_s: number, 
/**
 * Seconds of the clip matched, and their share of the clip.
 */
matched_s: number, coverage: number, similarity: number, };

export type FindResult = { 
/**
 * Length of the clip searched for, seconds.
 */
clip_s: number, 
/**
 * Usable videos, and how many are indexed (the others cannot be found yet).
 */
videos: number, indexed: number, matches: Array<ClipMatch>, };

export type SearchHit = { video: Video, score: number, 
/**
 * What matched: "name", "folder", "cluster", or a concept's name.
 */
matched: Array<string>, 
/**
 * The best-matching frame (for its thumbnail) and its time, ms.
 */
frame_index: number | null, frame_ms: number | null, };
