import { useEffect, useRef } from 'preact/hooks';
import { AddLibraryForm } from './components/AddLibraryForm';
import { Dialogs } from './components/Dialogs';
import { Header } from './components/Header';
import { Icon } from './components/Icon';
import { JobPanel } from './components/JobPanel';
import { Toasts } from './components/Toasts';
import { navigate, useRoute } from './router';
import { closeDialog, connect, dismissJob, getState, refresh, setState, undo, useStore } from './store';
import { ClusterView } from './views/ClusterView';
import { DuplicatesView } from './views/DuplicatesView';
import { FindView } from './views/FindView';
import { Failed } from './views/Failed';
import { Home } from './views/Home';
import { MapView } from './views/MapView';
import { VideoView } from './views/VideoView';

function typing(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  return !!el && (el.isContentEditable || !!el.closest('input, textarea, select'));
}

export function App() {
  const route = useRoute();
  const status = useStore((s) => s.status);
  const statusError = useStore((s) => s.statusError);
  const job = useStore((s) => s.job);
  const dismissed = useStore((s) => s.dismissedJob);
  const clusterCount = useStore((s) => s.clusters.length);

  useEffect(() => connect(), []);

  // The window title names the view.
  const clusters = useStore((s) => s.clusters);
  useEffect(() => {
    let t = '';
    if (route.name === 'cluster') t = clusters.find((c) => c.id === route.id)?.name ?? '';
    else if (route.name === 'map') t = route.kind === 'frame' ? 'Map of frames' : 'Map';
    else if (route.name === 'failed') t = 'Failed files';
    else if (route.name === 'video') t = 'Video';
    else if (route.name === 'duplicates') t = 'Duplicates';
    else if (route.name === 'find') t = route.q ? `Find “${route.q}”` : 'Find';
    document.title = t ? `${t} · Reelmap` : 'Reelmap';
  }, [route, clusters]);

  // Going elsewhere (links, Back) closes an open dialog.
  const routeKey = JSON.stringify(route);
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    if (getState().dialog) closeDialog();
  }, [routeKey]);

  // Global keys: Ctrl/Cmd-Z undoes, Esc goes back.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || document.querySelector('dialog[open]')) return;
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && (e.key === 'z' || e.key === 'Z')) {
        if (typing(e.target)) return;
        e.preventDefault();
        if (getState().status?.library.can_undo_edit) void undo();
        return;
      }
      if (e.key === 'Escape' && !typing(e.target)) {
        const back = document.querySelector<HTMLAnchorElement>('[data-back]');
        if (back) {
          e.preventDefault();
          back.click();
        } else if (location.hash && location.hash !== '#/') {
          e.preventDefault();
          navigate({ name: 'home' });
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // A video file dropped anywhere on the window is looked for in the library (the
  // Find view takes it). Drags of videos inside the page carry no files.
  useEffect(() => {
    const hasFiles = (e: DragEvent) => !!e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    const over = (e: DragEvent) => {
      if (hasFiles(e) && !e.defaultPrevented) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e) || e.defaultPrevented) return;
      e.preventDefault();
      const f = e.dataTransfer?.files?.[0];
      if (!f) return;
      setState({ droppedClip: f });
      navigate({ name: 'find', q: '' });
    };
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, []);

  // A finished job without problems goes away by itself after a while.
  useEffect(() => {
    if (!job || job.state !== 'done' || job.errors.length) return;
    const t = window.setTimeout(() => dismissJob(job.id), 12000);
    return () => window.clearTimeout(t);
  }, [job?.id, job?.state]);

  if (!status) {
    return (
      <div class="app">
        <Header route={route} hasLibrary={false} />
        <main class="main">
          {statusError ? (
            <div class="empty-state" role="alert" data-testid="connect-error">
              <Icon name="alert" size={32} />
              <h2>Cannot load the catalogue</h2>
              <p class="muted">{statusError}</p>
              <button type="button" class="btn" onClick={() => void refresh()}>
                Try again
              </button>
            </div>
          ) : (
            <div class="empty-state">
              <span class="spinner" /> Loading…
            </div>
          )}
        </main>
        <Toasts />
      </div>
    );
  }

  const buildingFirst = !!job && job.kind === 'library' && job.state === 'running' && clusterCount === 0;
  const hasLibrary = status.library.videos > 0 && !buildingFirst;
  // Finished map jobs show their result in the map itself.
  const jobVisible =
    !!job && (job.state === 'running' || (job.id !== dismissed && !(job.kind.startsWith('map:') && job.state === 'done')));
  const onMapWithMapJob = route.name === 'map' && !!job && job.kind.startsWith('map:');

  let view;
  if (!hasLibrary || route.name === 'add') {
    view = <Welcome hasLibrary={hasLibrary} />;
  } else {
    switch (route.name) {
      case 'cluster':
        view = <ClusterView id={route.id} />;
        break;
      case 'video':
        view = <VideoView id={route.id} from={route.from} frame={route.frame} t={route.t} />;
        break;
      case 'failed':
        view = <Failed />;
        break;
      case 'map':
        view = <MapView kind={route.kind} />;
        break;
      case 'duplicates':
        view = <DuplicatesView />;
        break;
      case 'find':
        view = <FindView q={route.q} />;
        break;
      default:
        view = <Home />;
    }
  }

  return (
    <div class="app">
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <Header route={route} hasLibrary={hasLibrary} />
      {hasLibrary && jobVisible && job && !onMapWithMapJob ? (
        <div class="job-strip">
          <JobPanel job={job} />
        </div>
      ) : null}
      <main class="main" id="main" tabIndex={-1}>
        {view}
      </main>
      <Toasts />
      <Dialogs />
    </div>
  );
}

function Welcome({ hasLibrary }: { hasLibrary: boolean }) {
  const job = useStore((s) => s.job);
  const dismissed = useStore((s) => s.dismissedJob);
  const building = !!job && job.kind === 'library' && job.state === 'running';
  const showJob = !!job && job.kind === 'library' && (building || job.id !== dismissed);
  return (
    <div class="welcome" data-testid="welcome">
      <div class="welcome-card">
        {building ? (
          <>
            <h1>Building your catalogue</h1>
            <p class="lead muted">
              Reelmap is looking at every video: it samples frames, recognises what they show and groups similar videos.
              You can leave this page; the work goes on.
            </p>
          </>
        ) : (
          <>
            <WelcomeArt />
            <h1>{hasLibrary ? 'Add more folders' : 'Organise your videos by what they show'}</h1>
            <p class="lead muted">
              Point Reelmap at the folders that hold your videos. It groups them into clusters named after their content —
              cats, cars, beaches — and lets you browse, correct and finally sort them into folders.
            </p>
          </>
        )}
        {showJob && job ? <JobPanel job={job} large /> : null}
        {!building ? <AddLibraryForm autoFocus /> : null}
      </div>
    </div>
  );
}

/** A small picture of what Reelmap does: loose dots gathered into coloured groups. */
function WelcomeArt() {
  const groups: [number, number, string][] = [
    [40, 34, '#4e79a7'],
    [112, 22, '#f28e2b'],
    [180, 40, '#59a14f'],
    [252, 26, '#e15759'],
  ];
  const offsets = [
    [0, 0, 6],
    [13, -6, 4.5],
    [-12, 7, 5],
    [9, 12, 4],
    [-6, -11, 3.5],
    [20, 6, 3],
  ];
  return (
    <svg class="welcome-art" viewBox="0 0 300 64" width="300" height="64" aria-hidden="true">
      {groups.map(([x, y, c], g) => (
        <g key={g} fill={c}>
          {offsets.map(([dx, dy, r], i) => (
            <circle key={i} cx={x + dx!} cy={y + dy!} r={r} opacity={0.55 + (i % 3) * 0.15} />
          ))}
        </g>
      ))}
    </svg>
  );
}
