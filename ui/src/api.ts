// Typed client for the Reelmap HTTP API. All URLs are relative so the auth cookie
// set by `/?token=…` is sent with every request.

export type JobState = 'running' | 'done' | 'failed' | 'cancelled';

export interface JobStatus {
  id: number;
  kind: string; // "library" | "recluster" | "map:video" | "map:frame"
  state: JobState;
  stage: string;
  done: number;
  total: number;
  current: string;
  errors: [string, string][];
  message: string;
  elapsed_s: number;
  eta_s: number | null;
}

export interface Library {
  videos: number;
  ok: number;
  failed: number;
  embedded: number;
  clusters: number;
  roots: string[];
  can_undo_edit: boolean;
  can_undo_apply: boolean;
}

export interface Status {
  library: Library;
  job: JobStatus | null;
  model: string;
}

export interface Cluster {
  id: number;
  name: string;
  name_source: 'auto' | 'user';
  kind: 'normal' | 'unsorted';
  concept: string | null;
  confidence: number | null;
  count: number;
  mosaic: number[];
}

export interface Video {
  id: number;
  name: string;
  path: string;
  status: string;
  error: string | null;
  error_stage: string | null;
  duration_ms: number | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  codec: string | null;
  container: string | null;
  size: number | null;
  cluster_id: number | null;
  assigned_by: 'auto' | 'user' | null;
}

export interface VideoPage {
  total: number;
  offset: number;
  videos: Video[];
}

export interface FrameClass {
  class: number;
  name: string;
  p: number;
}

export interface Frame {
  idx: number;
  ts_ms: number;
  top: FrameClass[];
}

export interface ChangePoint {
  idx: number;
  ts_ms: number;
  score: number;
}

export interface Neighbour {
  id: number;
  name: string;
  similarity: number;
  cluster_id: number | null;
  cluster: string | null;
  /** The same bytes as the video shown: a copy of its file. */
  same_file: boolean;
  path: string;
}

export interface VideoDetail extends Video {
  cluster: string | null;
  frames: Frame[];
  change_points: ChangePoint[];
  nearest: Neighbour[];
  has_poster: boolean;
}

export type MapKind = 'video' | 'frame';

export interface MapData {
  kind: MapKind;
  current: boolean;
  fields: string[];
  points: [number, number, number, number, number | null][];
  clusters: { id: number; name: string; kind: string }[];
}

export interface EditResult {
  edit_id: number;
  summary: string;
  cluster_id: number | null;
}

export interface PlanItem {
  video_id: number;
  cluster_id: number;
  folder: string;
  from: string;
  to: string;
  companions: [string, string][];
}

export interface Plan {
  base: string;
  folders: [number, string][];
  items: PlanItem[];
  unchanged: number;
}

export type ApplyMode = 'move' | 'link' | 'copy';

export interface ApplyReport {
  batch_id: number;
  files_done: number;
  folders_created: number;
  failed: [string, string][];
}

export interface ApplyUndoReport {
  batch_id: number;
  files_restored: number;
  failed: [string, string][];
}

export interface JournalEntry {
  id: number;
  mode: string;
  base: string;
  state: string;
  created_at: number;
  files: number;
  failed: number;
}

export type ServerEvent =
  | { type: 'job'; job: JobStatus }
  | { type: 'library'; what: string };

/** An API failure with the server's message (or a readable fallback). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError('Cannot reach the Reelmap engine. Is `reelmap serve` still running?', 0);
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const msg =
      data && typeof data === 'object' && 'error' in data && typeof (data as { error: unknown }).error === 'string'
        ? (data as { error: string }).error
        : res.status === 401
          ? 'Not authorised: open the address printed by `reelmap serve` again.'
          : text.trim() || `${res.status} ${res.statusText}`;
    throw new ApiError(msg, res.status);
  }
  return data as T;
}

const get = <T>(url: string) => request<T>('GET', url);
const post = <T>(url: string, body: unknown = {}) => request<T>('POST', url, body);

export const api = {
  status: () => get<Status>('/api/status'),
  addLibrary: (paths: string[]) => post<JobStatus>('/api/library', { paths }),
  cancelJob: () => post<{ cancelled: boolean }>('/api/jobs/cancel'),
  clusters: () => get<Cluster[]>('/api/clusters'),
  clusterVideos: (id: number, offset: number, limit: number) =>
    get<VideoPage>(`/api/clusters/${id}/videos?offset=${offset}&limit=${limit}`),
  failed: () => get<Video[]>('/api/videos/failed'),
  video: (id: number) => get<VideoDetail>(`/api/videos/${id}`),
  map: (kind: MapKind) => get<MapData>(`/api/map?kind=${kind}`),
  computeMap: (kind: MapKind) => post<JobStatus>(`/api/map?kind=${kind}`),
  assign: (videos: number[], cluster: number) => post<EditResult>('/api/assign', { videos, cluster }),
  assignNew: (videos: number[], newFolder: string) =>
    post<EditResult>('/api/assign', { videos, new_folder: newFolder }),
  rename: (id: number, name: string) => post<EditResult>(`/api/clusters/${id}/rename`, { name }),
  merge: (id: number, into: number) => post<EditResult>(`/api/clusters/${id}/merge`, { into }),
  undo: () => post<{ undone: string | null }>('/api/undo'),
  recluster: (k: number | null) => post<JobStatus>('/api/recluster', { k }),
  applyPlan: (target: string) =>
    get<Plan[]>(`/api/apply/plan${target ? `?target=${encodeURIComponent(target)}` : ''}`),
  apply: (mode: ApplyMode, target: string) =>
    post<ApplyReport[]>('/api/apply', target ? { mode, target } : { mode }),
  applyUndo: () => post<ApplyUndoReport | null>('/api/apply/undo'),
  journal: () => get<JournalEntry[]>('/api/journal'),
};

export const urls = {
  poster: (id: number) => `/api/videos/${id}/poster.jpg`,
  frame: (id: number, idx: number) => `/api/videos/${id}/frames/${idx}.jpg`,
  strip: (id: number) => `/api/videos/${id}/strip.png`,
  media: (id: number) => `/api/videos/${id}/media`,
};

/** Subscribes to server-sent events; EventSource reconnects by itself. */
export function subscribeEvents(
  onEvent: (e: ServerEvent) => void,
  onOpen: () => void,
  onError: () => void,
): () => void {
  const es = new EventSource('/api/events', { withCredentials: true });
  es.onmessage = (m) => {
    try {
      onEvent(JSON.parse(m.data) as ServerEvent);
    } catch {
      /* ignore malformed events */
    }
  };
  es.onopen = onOpen;
  es.onerror = onError;
  return () => es.close();
}
