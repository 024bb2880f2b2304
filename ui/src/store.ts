// Application state: a tiny observable store (no dependency) plus the actions that
// talk to the API. Components read it with `useStore(selector)`.

import { useEffect, useState } from 'preact/hooks';
import { navigate } from './router';
import { api, ApiError, subscribeEvents, type Cluster, type EditResult, type JobStatus, type Status } from './api';

export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'success';
  text: string;
  action?: { label: string; run: () => void };
}

export type Dialog =
  | { type: 'apply' }
  | { type: 'recluster' }
  | { type: 'add' }
  | { type: 'merge'; clusterId: number }
  | {
      type: 'prompt';
      title: string;
      label: string;
      initial: string;
      confirm: string;
      resolve: (v: string | null) => void;
    };

export interface State {
  status: Status | null;
  statusError: string | null;
  clusters: Cluster[];
  clustersLoaded: boolean;
  job: JobStatus | null;
  /** Bumped whenever catalogue data may have changed; views refetch on it. */
  dataVersion: number;
  /** Bumped when a map job finishes. */
  mapVersion: number;
  toasts: Toast[];
  connected: boolean;
  dialog: Dialog | null;
  dismissedJob: number | null;
  busy: boolean;
  /** A video file dropped on the window, waiting for the Find view to look for it. */
  droppedClip: File | null;
}

let state: State = {
  status: null,
  statusError: null,
  clusters: [],
  clustersLoaded: false,
  job: null,
  dataVersion: 0,
  mapVersion: 0,
  toasts: [],
  connected: false,
  dialog: null,
  dismissedJob: readDismissed(),
  busy: false,
  droppedClip: null,
};

const listeners = new Set<() => void>();

export function getState(): State {
  return state;
}

export function setState(patch: Partial<State> | ((s: State) => Partial<State>)): void {
  const p = typeof patch === 'function' ? patch(state) : patch;
  state = { ...state, ...p };
  listeners.forEach((l) => l());
}

export function useStore<T>(select: (s: State) => T): T {
  const [, force] = useState(0);
  const value = select(state);
  useEffect(() => {
    let last = select(state);
    const l = () => {
      const next = select(state);
      if (!Object.is(next, last)) {
        last = next;
        force((n) => n + 1);
      }
    };
    listeners.add(l);
    l();
    return () => {
      listeners.delete(l);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return value;
}

function readDismissed(): number | null {
  try {
    const v = sessionStorage.getItem('reelmap.dismissedJob');
    return v ? Number(v) : null;
  } catch {
    return null;
  }
}

// ----- toasts -----

let toastId = 1;

export function toast(kind: Toast['kind'], text: string, action?: Toast['action']): void {
  const id = toastId++;
  setState((s) => ({ toasts: [...s.toasts.slice(-4), { id, kind, text, action }] }));
  window.setTimeout(() => dismissToast(id), kind === 'error' ? 9000 : action ? 7000 : 4500);
}

export function dismissToast(id: number): void {
  setState((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function showError(prefix: string, e: unknown): void {
  toast('error', `${prefix}: ${errorMessage(e)}`);
}

// ----- loading -----

let refreshing: Promise<void> | null = null;
let refreshAgain = false;

/** Refetches status and clusters (coalesced), then bumps dataVersion. */
export function refresh(): Promise<void> {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const [status, clusters] = await Promise.all([api.status(), api.clusters()]);
      const first = !state.status;
      setState((s) => ({
        // A job that had already finished before the page opened is old news.
        dismissedJob:
          first && status.job && status.job.state !== 'running' && !s.job ? status.job.id : s.dismissedJob,
        status,
        statusError: null,
        clusters,
        clustersLoaded: true,
        // A job from SSE is at least as fresh as the one in /api/status.
        job: pickJob(s.job, status.job),
        dataVersion: s.dataVersion + 1,
      }));
    } catch (e) {
      setState({ statusError: errorMessage(e) });
    } finally {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        void refresh();
      }
    }
  })();
  return refreshing;
}

function pickJob(a: JobStatus | null, b: JobStatus | null): JobStatus | null {
  if (!a) return b;
  if (!b) return a;
  if (b.id > a.id) return b;
  if (a.id > b.id) return a;
  // Same job: a finished state wins, then the later elapsed time.
  if (a.state !== 'running' && b.state === 'running') return a;
  if (b.state !== 'running' && a.state === 'running') return b;
  return b.elapsed_s >= a.elapsed_s ? b : a;
}

let refreshTimer = 0;
function refreshSoon(): void {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refresh(), 120);
}

let statusTimer = 0;
function refreshStatusThrottled(): void {
  if (statusTimer) return;
  statusTimer = window.setTimeout(async () => {
    statusTimer = 0;
    try {
      const status = await api.status();
      setState((s) => ({ status, job: pickJob(s.job, status.job) }));
    } catch {
      /* shown by the next full refresh */
    }
  }, 1500);
}

export function connect(): () => void {
  void refresh();
  let wasDown = false;
  return subscribeEvents(
    (ev) => {
      if (ev.type === 'job') {
        const prev = state.job;
        const job = pickJob(prev, ev.job);
        if (job !== ev.job) return;
        setState({ job });
        const finished = job.state !== 'running' && (!prev || prev.id !== job.id || prev.state === 'running');
        if (finished) {
          if (job.kind.startsWith('map:')) setState((s) => ({ mapVersion: s.mapVersion + 1 }));
          refreshSoon();
          if (job.state === 'failed') toast('error', `${jobTitle(job)} failed: ${job.message}`);
        } else if (job.kind === 'library') {
          refreshStatusThrottled();
        }
      } else if (ev.type === 'library') {
        refreshSoon();
      }
    },
    () => {
      setState({ connected: true });
      if (wasDown) {
        wasDown = false;
        void refresh();
      }
    },
    () => {
      wasDown = true;
      setState({ connected: false });
    },
  );
}

export function jobTitle(job: JobStatus): string {
  switch (job.kind) {
    case 'library':
      return 'Adding videos';
    case 'recluster':
      return 'Re-clustering';
    case 'map:video':
      return 'Computing the map of videos';
    case 'map:frame':
      return 'Computing the map of frames';
    case 'index':
      return 'Indexing frames for finding';
    default:
      return job.kind;
  }
}

export function dismissJob(id: number): void {
  try {
    sessionStorage.setItem('reelmap.dismissedJob', String(id));
  } catch {
    /* private mode */
  }
  setState({ dismissedJob: id });
}

// ----- jobs -----

/** Starts a library job; resolves to an error message, or null when it started. */
export async function startLibrary(paths: string[]): Promise<string | null> {
  try {
    const job = await api.addLibrary(paths);
    setState((s) => ({ job: pickJob(s.job, job) }));
    return null;
  } catch (e) {
    return errorMessage(e);
  }
}

export async function cancelJob(): Promise<void> {
  try {
    const r = await api.cancelJob();
    if (!r.cancelled) toast('info', 'No job is running.');
    else toast('info', 'Stopping after the current file…');
  } catch (e) {
    showError('Could not cancel', e);
  }
}

export async function startRecluster(
  k: number | null,
  method: 'mean' | 'adapt' | 'scan' = 'mean',
  adapt = false,
): Promise<boolean> {
  try {
    const job = await api.recluster(k, method, adapt);
    setState((s) => ({ job: pickJob(s.job, job) }));
    return true;
  } catch (e) {
    showError('Could not re-cluster', e);
    return false;
  }
}

export async function startMap(kind: 'video' | 'frame'): Promise<boolean> {
  try {
    const job = await api.computeMap(kind);
    setState((s) => ({ job: pickJob(s.job, job) }));
    return true;
  } catch (e) {
    showError('Could not compute the map', e);
    return false;
  }
}

// ----- edits -----

async function runEdit(what: string, op: () => Promise<EditResult>): Promise<EditResult | null> {
  try {
    const r = await op();
    await refresh();
    toast('success', r.summary || what, { label: 'Undo', run: () => void undo() });
    return r;
  } catch (e) {
    showError(`Could not ${what}`, e);
    await refresh();
    return null;
  }
}

export function assignVideos(ids: number[], cluster: number): Promise<EditResult | null> {
  return runEdit('move the videos', () => api.assign(ids, cluster));
}

export async function assignToNewFolder(ids: number[]): Promise<EditResult | null> {
  const name = await askName({
    title: ids.length === 1 ? 'Move 1 video to a new folder' : `Move ${ids.length} videos to a new folder`,
    label: 'Folder name',
    initial: '',
    confirm: 'Create folder',
  });
  if (!name) return null;
  return runEdit('create the folder', () => api.assignNew(ids, name));
}

export function renameCluster(id: number, name: string): Promise<EditResult | null> {
  return runEdit('rename the cluster', () => api.rename(id, name));
}

export async function mergeClusters(from: number, into: number): Promise<EditResult | null> {
  if (from === into) return null;
  const r = await runEdit('merge the clusters', () => api.merge(from, into));
  // The open cluster went away: follow its videos.
  if (r && location.hash === `#/cluster/${from}`) navigate({ name: 'cluster', id: into }, true);
  return r;
}

export async function undo(): Promise<void> {
  try {
    const r = await api.undo();
    await refresh();
    if (r.undone) toast('info', `Undone: ${r.undone}`);
    else toast('info', 'Nothing to undo.');
  } catch (e) {
    showError('Could not undo', e);
    await refresh();
  }
}

// ----- dialogs -----

export function openDialog(d: Dialog): void {
  setState({ dialog: d });
}

export function closeDialog(): void {
  const d = state.dialog;
  if (d && d.type === 'prompt') d.resolve(null);
  setState({ dialog: null });
}

export function askName(o: { title: string; label: string; initial: string; confirm: string }): Promise<string | null> {
  return new Promise((resolve) => {
    const prev = state.dialog;
    if (prev && prev.type === 'prompt') prev.resolve(null);
    setState({
      dialog: {
        type: 'prompt',
        ...o,
        resolve: (v) => {
          setState({ dialog: null });
          resolve(v);
        },
      },
    });
  });
}
