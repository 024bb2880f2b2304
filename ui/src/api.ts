// Typed client for the Reelmap HTTP API. All URLs are relative so the auth cookie
// set by `/?token=…` is sent with every request.
//
// The types come from the server's own (crates/server/src/dto.rs), generated into
// ./generated/api.ts, so that the two cannot drift apart.

import type { BatchInfo, JobStatus, Mode, UndoReport } from './generated/api';

export type {
  ApplyReport,
  ChangePoint,
  ClipMatch,
  Cluster,
  DuplicateGroup,
  DuplicatePair,
  Duplicates,
  FindResult,
  SearchHit,
  EditResult,
  Frame,
  FrameClass,
  JobState,
  JobStatus,
  Library,
  MapData,
  MapKind,
  Neighbour,
  Plan,
  PlanItem,
  ServerEvent,
  Status,
  Suggestion,
  Video,
  VideoDetail,
  VideoPage,
} from './generated/api';

import type {
  Cluster,
  Duplicates,
  FindResult,
  SearchHit,
  EditResult,
  MapData,
  MapKind,
  Plan,
  ApplyReport,
  ServerEvent,
  Status,
  Suggestion,
  Video,
  VideoDetail,
  VideoPage,
  Method,
} from './generated/api';

export type ApplyMode = Mode;
export type ApplyUndoReport = UndoReport;
export type JournalEntry = BatchInfo;

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

/** `body`: JSON, or a file's bytes as they are. */
async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  let res: Response;
  const raw = body instanceof Blob;
  try {
    res = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers:
        body === undefined ? {} : { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
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
  recluster: (k: number | null, method: Method = 'mean', adapt = false) =>
    post<JobStatus>('/api/recluster', { k, method, adapt }),
  suggestions: (cluster: number) => get<Suggestion[]>(`/api/clusters/${cluster}/suggestions`),
  rejectSuggestion: (cluster: number, video: number) =>
    post<{ cancelled: boolean }>(`/api/clusters/${cluster}/suggestions/reject`, { video }),
  applyPlan: (target: string) =>
    get<Plan[]>(`/api/apply/plan${target ? `?target=${encodeURIComponent(target)}` : ''}`),
  apply: (mode: ApplyMode, target: string) =>
    post<ApplyReport[]>('/api/apply', target ? { mode, target } : { mode }),
  applyUndo: () => post<ApplyUndoReport | null>('/api/apply/undo'),
  journal: () => get<JournalEntry[]>('/api/journal'),
  index: () => post<JobStatus>('/api/index'),
  duplicates: () => get<Duplicates>('/api/duplicates'),
  setAside: (keep: number, others: number[]) => post<ApplyReport>('/api/duplicates/set-aside', { keep, others }),
  search: (q: string) => get<SearchHit[]>(`/api/search?q=${encodeURIComponent(q)}`),
  /** Sends the clip's bytes; the server finds where in the library it comes from. */
  findClip: (file: File) => request<FindResult>('POST', `/api/find?name=${encodeURIComponent(file.name)}`, file),
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
