// The map: every video (or every sampled frame) as a point, coloured by cluster.
// Wheel zooms, drag pans, hover shows the poster, click opens the video,
// Shift-drag selects points that can then be dragged onto a legend entry.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, urls, type MapData, type MapKind } from '../api';
import { Icon } from '../components/Icon';
import { JobPanel } from '../components/JobPanel';
import { Scatter, toScatterData } from '../components/Scatter';
import { endDrag, startVideoDrag, useDropTarget } from '../dnd';
import { clusterColours, plural, UNSORTED_COLOUR } from '../format';
import { navigate, videoRoute } from '../router';
import { assignToNewFolder, assignVideos, errorMessage, startMap, useStore } from '../store';

// Video names by id, filled from the cluster listings (the map itself has ids only).
const names = new Map<number, string>();
let namesLoading: Promise<void> | null = null;
let namesVersion = -1;

async function loadNames(clusterIds: number[], version: number, onProgress: () => void): Promise<void> {
  if (namesVersion === version && namesLoading) return namesLoading;
  namesVersion = version;
  namesLoading = (async () => {
    for (const id of clusterIds) {
      for (let offset = 0; ; offset += 2000) {
        try {
          const page = await api.clusterVideos(id, offset, 2000);
          page.videos.forEach((v) => names.set(v.id, v.name));
          onProgress();
          if (offset + page.videos.length >= page.total || page.videos.length === 0) break;
        } catch {
          break;
        }
      }
    }
  })();
  return namesLoading;
}

/** A name for a hovered point not covered by the listings (e.g. a failed video). */
const pendingNames = new Set<number>();
function fetchName(id: number, done: () => void): void {
  if (names.has(id) || pendingNames.has(id)) return;
  pendingNames.add(id);
  api
    .video(id)
    .then((v) => {
      names.set(id, v.name);
      done();
    })
    .catch(() => undefined)
    .finally(() => pendingNames.delete(id));
}

interface Tip {
  i: number;
  x: number;
  y: number;
}

export function MapView({ kind }: { kind: MapKind }) {
  const dataVersion = useStore((s) => s.dataVersion);
  const mapVersion = useStore((s) => s.mapVersion);
  const job = useStore((s) => s.job);
  const storeClusters = useStore((s) => s.clusters);
  const [map, setMap] = useState<MapData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tip, setTip] = useState<Tip | null>(null);
  const [, setNamesTick] = useState(0);
  const [selection, setSelection] = useState<number[]>([]);
  const [highlight, setHighlight] = useState<number | null>(null);
  const [pinned, setPinned] = useState<number | null>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const scatter = useRef<Scatter | null>(null);
  const shownKind = useRef<MapKind | null>(null);

  const mapJobRunning = job?.state === 'running' && job.kind === `map:${kind}`;
  const otherJobRunning = job?.state === 'running' && !mapJobRunning;

  // Another kind of map: drop the old one at once (no stale points or counts).
  useEffect(() => {
    setMap((m) => (m && m.kind !== kind ? null : m));
    setTip(null);
  }, [kind]);

  useEffect(() => {
    let live = true;
    api
      .map(kind)
      .then((m) => {
        if (!live) return;
        setMap(m);
        setError(null);
      })
      .catch((e) => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [kind, dataVersion, mapVersion]);

  const colours = useMemo(() => clusterColours(map?.clusters ?? []), [map]);
  const data = useMemo(() => (map ? toScatterData(map.points) : null), [map]);
  const counts = useMemo(() => {
    const c = new Map<number, number>();
    if (!data) return c;
    // Count videos (not frames) per cluster.
    const seen = new Set<number>();
    for (let i = 0; i < data.n; i++) {
      if (seen.has(data.vid[i]!)) continue;
      seen.add(data.vid[i]!);
      c.set(data.cid[i]!, (c.get(data.cid[i]!) ?? 0) + 1);
    }
    return c;
  }, [data]);

  // Names for tooltips.
  useEffect(() => {
    if (!map || !map.points.length) return;
    void loadNames(
      map.clusters.map((c) => c.id),
      dataVersion,
      () => setNamesTick((t) => t + 1),
    );
  }, [map, dataVersion]);

  // Create the renderer once the canvas exists.
  useLayoutEffect(() => {
    const c = canvas.current;
    const w = wrap.current;
    if (!c || !w) return;
    const s = new Scatter(c);
    s.onDraw = (ms) => {
      c.dataset.drawMs = ms.toFixed(2);
    };
    scatter.current = s;
    const ro = new ResizeObserver(() => {
      s.resize(w.clientWidth, w.clientHeight);
    });
    ro.observe(w);
    s.resize(w.clientWidth, w.clientHeight);
    return () => {
      ro.disconnect();
      s.destroy();
      scatter.current = null;
    };
  }, [data !== null && data.n > 0]);

  // Feed data.
  useEffect(() => {
    const s = scatter.current;
    if (!s || !data) return;
    s.pointRadius = data.n < 300 ? 6 : data.n < 3000 ? 4.5 : data.n < 30000 ? 3.2 : 2.4;
    s.setData(data, colours, UNSORTED_COLOUR, shownKind.current === kind);
    shownKind.current = kind;
    setTip(null);
  }, [data, colours, kind, data !== null && data.n > 0]);

  useEffect(() => {
    const s = scatter.current;
    if (!s) return;
    s.highlight = pinned ?? highlight;
    s.request();
  }, [highlight, pinned]);

  useEffect(() => {
    const s = scatter.current;
    if (!s) return;
    s.selected = new Set(selection);
    s.request();
  }, [selection]);

  // Pointer handling.
  const drag = useRef<{ x: number; y: number; lx: number; ly: number; moved: boolean; lasso: boolean } | null>(null);
  const pendingTip = useRef<Tip | null>(null);
  const tipRaf = useRef(0);

  const local = (e: MouseEvent) => {
    const r = canvas.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  const updateHover = (x: number, y: number) => {
    const s = scatter.current;
    if (!s) return;
    const i = s.pick(x, y);
    if (i !== s.hover) {
      s.hover = i;
      s.request();
    }
    pendingTip.current = i >= 0 ? { i, x, y } : null;
    if (!tipRaf.current) {
      tipRaf.current = requestAnimationFrame(() => {
        tipRaf.current = 0;
        setTip(pendingTip.current);
      });
    }
  };

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    const p = local(e);
    drag.current = { x: p.x, y: p.y, lx: p.x, ly: p.y, moved: false, lasso: e.shiftKey };
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
  };

  const onPointerMove = (e: PointerEvent) => {
    const p = local(e);
    const d = drag.current;
    const s = scatter.current;
    if (!d || !s) {
      updateHover(p.x, p.y);
      return;
    }
    if (!d.moved && Math.hypot(p.x - d.x, p.y - d.y) > 4) {
      d.moved = true;
      setTip(null);
      s.hover = -1;
    }
    if (!d.moved) return;
    if (d.lasso) {
      s.lasso = { x0: d.x, y0: d.y, x1: p.x, y1: p.y };
      s.request();
    } else {
      s.pan(p.x - d.lx, p.y - d.ly);
    }
    d.lx = p.x;
    d.ly = p.y;
  };

  const onPointerUp = (e: PointerEvent) => {
    const d = drag.current;
    const s = scatter.current;
    drag.current = null;
    if (!d || !s) return;
    const p = local(e);
    if (d.lasso && d.moved) {
      const ids = s.pickRect(d.x, d.y, p.x, p.y);
      s.lasso = null;
      s.request();
      setSelection(e.ctrlKey || e.metaKey ? [...new Set([...selection, ...ids])] : ids);
      return;
    }
    if (!d.moved) {
      const i = s.pick(p.x, p.y);
      if (i >= 0 && data) {
        const frame = data.idx[i]!;
        navigate(videoRoute(data.vid[i]!, null, frame >= 0 ? frame : null));
      } else if (!e.shiftKey) {
        setSelection([]);
      }
    }
  };

  // Wheel zoom (non-passive so the page does not scroll).
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const s = scatter.current;
      if (!s) return;
      const r = c.getBoundingClientRect();
      const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      s.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-dy * 0.0015));
      setTip(null);
    };
    c.addEventListener('wheel', onWheel, { passive: false });
    return () => c.removeEventListener('wheel', onWheel);
  }, [data !== null && data.n > 0]);

  const onKeyDown = (e: KeyboardEvent) => {
    const s = scatter.current;
    const c = canvas.current;
    if (!s || !c) return;
    const cx = c.clientWidth / 2;
    const cy = c.clientHeight / 2;
    switch (e.key) {
      case '+':
      case '=':
        s.zoomAt(cx, cy, 1.4);
        break;
      case '-':
      case '_':
        s.zoomAt(cx, cy, 1 / 1.4);
        break;
      case '0':
        s.reset();
        break;
      case 'Escape':
        if (!selection.length) return;
        setSelection([]);
        break;
      case 'ArrowLeft':
        s.pan(60, 0);
        break;
      case 'ArrowRight':
        s.pan(-60, 0);
        break;
      case 'ArrowUp':
        s.pan(0, 60);
        break;
      case 'ArrowDown':
        s.pan(0, -60);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const has = data !== null && data.n > 0;
  const clusterName = (cid: number) => map?.clusters.find((c) => c.id === cid)?.name ?? storeClusters.find((c) => c.id === cid)?.name;

  let tipEl = null;
  if (tip && data && tip.i < data.n && wrap.current) {
    const vid = data.vid[tip.i]!;
    const idx = data.idx[tip.i]!;
    const cid = data.cid[tip.i]!;
    const name = names.get(vid);
    if (!name) fetchName(vid, () => setNamesTick((t) => t + 1));
    const W = wrap.current.clientWidth;
    const H = wrap.current.clientHeight;
    const tw = 208;
    const th = 180;
    const left = tip.x + 16 + tw > W ? tip.x - 16 - tw : tip.x + 16;
    const top = Math.max(8, Math.min(H - th - 8, tip.y - th / 2));
    tipEl = (
      <div class="map-tip" style={{ left: `${left}px`, top: `${top}px`, width: `${tw}px` }} data-testid="map-tooltip" role="tooltip">
        <img src={idx >= 0 ? urls.frame(vid, idx) : urls.poster(vid)} alt="" />
        <div class="map-tip-body">
          <div class="map-tip-name" data-testid="map-tooltip-name">
            {name ?? 'Loading…'}
          </div>
          <div class="map-tip-meta" style={{ '--cluster-colour': colours.get(cid) ?? UNSORTED_COLOUR }}>
            <span class="swatch" aria-hidden="true" />
            {cid >= 0 ? (clusterName(cid) ?? `Cluster ${cid}`) : 'No cluster'}
            {idx >= 0 ? <span class="muted"> · frame {idx + 1}</span> : null}
          </div>
        </div>
      </div>
    );
  }

  const legend = (map?.clusters ?? []).filter((c) => (counts.get(c.id) ?? 0) > 0);
  const unclustered = counts.get(-1) ?? 0;

  return (
    <div class="map-page" data-testid="map-view" data-kind={kind}>
      <div class="map-toolbar">
        <div class="segmented" role="tablist" aria-label="Map of">
          <button
            type="button"
            role="tab"
            aria-selected={kind === 'video'}
            class={kind === 'video' ? 'active' : ''}
            data-testid="map-kind-video"
            onClick={() => navigate({ name: 'map', kind: 'video' })}
          >
            Videos
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={kind === 'frame'}
            class={kind === 'frame' ? 'active' : ''}
            data-testid="map-kind-frame"
            onClick={() => navigate({ name: 'map', kind: 'frame' })}
          >
            Frames
          </button>
        </div>
        <span class="muted map-count" data-testid="map-count">
          {has ? plural(data.n, kind === 'frame' ? 'frame' : 'video') : ''}
        </span>
        {map && has && !map.current ? (
          <span class="stale" data-testid="map-stale">
            <Icon name="info" size={15} /> Out of date
          </span>
        ) : null}
        <div class="spacer" />
        {has ? (
          <>
            <span class="muted map-help">Scroll to zoom · drag to pan · Shift-drag to select</span>
            <button type="button" class="btn btn-small" onClick={() => scatter.current?.reset()} title="Reset view (0)">
              <Icon name="reset" size={15} /> Reset view
            </button>
          </>
        ) : null}
        {map && has ? (
          <button
            type="button"
            class={`btn btn-small${map.current ? '' : ' btn-primary'}`}
            disabled={mapJobRunning || otherJobRunning}
            onClick={() => void startMap(kind)}
            data-testid="map-recompute"
          >
            <Icon name="refresh" size={15} /> Recompute
          </button>
        ) : null}
      </div>

      <div class="map-body">
        <div class="map-stage" ref={wrap}>
          {error ? (
            <div class="empty-state" role="alert">
              <Icon name="alert" size={28} />
              <p>Could not load the map: {error}</p>
            </div>
          ) : !map ? (
            <div class="empty-state">
              <span class="spinner" /> Loading the map…
            </div>
          ) : !has ? (
            <div class="empty-state map-empty" data-testid="map-empty">
              <Icon name="map" size={34} />
              <h2>{kind === 'frame' ? 'The map of frames is not computed yet' : 'No map of videos yet'}</h2>
              <p class="muted">
                {kind === 'frame'
                  ? 'It places every sampled frame, so scenes within videos show up. It takes a moment on large libraries.'
                  : 'It is computed at the end of each library job; you can also compute it now.'}
              </p>
              {mapJobRunning && job ? (
                <JobPanel job={job} />
              ) : (
                <button
                  type="button"
                  class="btn btn-primary"
                  disabled={otherJobRunning}
                  onClick={() => void startMap(kind)}
                  data-testid="map-compute"
                >
                  <Icon name="map" /> Compute the map of {kind === 'frame' ? 'frames' : 'videos'}
                </button>
              )}
              {otherJobRunning ? <p class="muted">Another job is running; this can start when it ends.</p> : null}
            </div>
          ) : null}
          {has ? (
            <canvas
              ref={canvas}
              class="map-canvas"
              tabIndex={0}
              role="img"
              aria-label={`Map of ${plural(data.n, kind)}, coloured by cluster. Use + and - to zoom, arrows to pan.`}
              data-testid="map-canvas"
              data-points={data.n}
              onPointerDown={onPointerDown}
              onPointerMove={onPointerMove}
              onPointerUp={onPointerUp}
              onPointerLeave={() => {
                if (drag.current) return;
                setTip(null);
                const s = scatter.current;
                if (s && s.hover !== -1) {
                  s.hover = -1;
                  s.request();
                }
              }}
              onKeyDown={onKeyDown}
            />
          ) : null}
          {tipEl}
          {mapJobRunning && has && job ? (
            <div class="map-job">
              <JobPanel job={job} />
            </div>
          ) : null}
          {selection.length ? (
            <div class="map-selection" data-testid="map-selection">
              <div
                class="selection-chip"
                draggable
                onDragStart={(e) => startVideoDrag(e, selection, names.get(selection[0]!) ?? 'video')}
                onDragEnd={endDrag}
                title="Drag onto a legend entry to move these videos"
              >
                <Icon name="move" size={15} /> {plural(selection.length, 'video')} selected — drag onto a cluster
              </div>
              <button type="button" class="btn btn-small" onClick={() => void assignToNewFolder(selection)}>
                <Icon name="folderPlus" size={15} /> New folder…
              </button>
              <button type="button" class="btn btn-small btn-ghost" onClick={() => setSelection([])}>
                Clear
              </button>
            </div>
          ) : null}
        </div>

        {has ? (
          <aside class="map-legend" aria-label="Legend" data-testid="map-legend">
            <div class="legend-head">
              <span>Clusters</span>
              <span class="muted">{plural(legend.length, 'cluster')}</span>
            </div>
            <ul>
              {legend.map((c) => (
                <LegendItem
                  key={c.id}
                  id={c.id}
                  name={c.name}
                  colour={colours.get(c.id) ?? UNSORTED_COLOUR}
                  count={counts.get(c.id) ?? 0}
                  pinned={pinned === c.id}
                  onHover={setHighlight}
                  onPin={() => setPinned(pinned === c.id ? null : c.id)}
                  onDropVideos={(ids) => {
                    void assignVideos(ids, c.id).then((r) => r && setSelection([]));
                  }}
                />
              ))}
              {unclustered ? (
                <li class="legend-item" style={{ '--cluster-colour': UNSORTED_COLOUR }}>
                  <span class="swatch" />
                  <span class="legend-name">No cluster</span>
                  <span class="side-count">{unclustered}</span>
                </li>
              ) : null}
            </ul>
            <LegendNewFolder onDone={() => setSelection([])} />
            <p class="legend-hint muted">Hover to highlight, click to keep it highlighted. Drop selected videos on a cluster to move them.</p>
          </aside>
        ) : null}
      </div>
    </div>
  );
}

function LegendItem(props: {
  id: number;
  name: string;
  colour: string;
  count: number;
  pinned: boolean;
  onHover: (id: number | null) => void;
  onPin: () => void;
  onDropVideos: (ids: number[]) => void;
}) {
  const drop = useDropTarget(
    (k) => k === 'videos',
    (p) => p.kind === 'videos' && props.onDropVideos(p.ids),
  );
  return (
    <li
      class={`legend-item${props.pinned ? ' pinned' : ''}${drop.over ? ' drop-over' : ''}`}
      style={{ '--cluster-colour': props.colour }}
      data-testid="legend-item"
      data-cluster-id={props.id}
      data-cluster-name={props.name}
      {...drop.props}
    >
      <button
        type="button"
        class="legend-btn"
        aria-pressed={props.pinned}
        onMouseEnter={() => props.onHover(props.id)}
        onMouseLeave={() => props.onHover(null)}
        onFocus={() => props.onHover(props.id)}
        onBlur={() => props.onHover(null)}
        onClick={props.onPin}
      >
        <span class="swatch" aria-hidden="true" />
        <span class="legend-name">{props.name}</span>
        <span class="side-count">{props.count.toLocaleString()}</span>
      </button>
    </li>
  );
}

function LegendNewFolder({ onDone }: { onDone: () => void }) {
  const drop = useDropTarget(
    (k) => k === 'videos',
    (p) => {
      if (p.kind === 'videos') void assignToNewFolder(p.ids).then((r) => r && onDone());
    },
  );
  return (
    <div class={`new-folder-target compact${drop.over ? ' drop-over' : ''}`} data-testid="legend-new-folder" {...drop.props}>
      <Icon name="folderPlus" size={16} />
      <span>{drop.over ? 'Drop to create a folder' : 'New folder'}</span>
    </div>
  );
}
