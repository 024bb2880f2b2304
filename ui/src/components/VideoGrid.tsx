// The videos of one cluster as a virtualised grid: only the rows in view (plus a
// small margin) are in the DOM and pages of 200 videos are fetched as they scroll
// into view, so clusters of many thousands stay smooth. Selection with click,
// Ctrl/Cmd-click and Shift-click (or the keyboard), drag to move, hover to scrub.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, urls, type Cluster, type Video } from '../api';
import { endDrag, startVideoDrag } from '../dnd';
import { fmtDuration, fmtSize, plural } from '../format';
import { assignToNewFolder, assignVideos, errorMessage, useStore } from '../store';
import { Icon } from './Icon';

const PAGE = 200;
const GAP = 16;
const MIN_TILE = 196;
const CAPTION = 50;
const OVERSCAN_ROWS = 2;
/** Sampled frames per video (the engine's default sampler is uniform:16). */
export const FRAMES_PER_VIDEO = 16;

interface Props {
  clusterId: number;
  clusters: Cluster[];
  onOpen: (id: number) => void;
}

export function VideoGrid({ clusterId, clusters, onOpen }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ w: 0, h: 0 });
  const [scrollTop, setScrollTop] = useState(0);
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, Video[]>>(() => new Map());
  const [error, setError] = useState<string | null>(null);
  const [sel, setSel] = useState<Set<number>>(() => new Set());
  const [anchor, setAnchor] = useState<number | null>(null);
  const [active, setActive] = useState(0);
  const [focused, setFocused] = useState(false);
  // The focus ring on the active tile is for keyboard use only.
  const [kbd, setKbd] = useState(false);
  const dataVersion = useStore((s) => s.dataVersion);
  const gen = useRef(0);
  const pending = useRef(new Set<string>());
  const pagesRef = useRef(pages);
  pagesRef.current = pages;
  const shown = useRef<{ cluster: number; version: number } | null>(null);

  // Size of the scrolling area.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => {
      const cs = getComputedStyle(el);
      const pad = parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight);
      setSize({ w: Math.max(0, el.clientWidth - pad), h: el.clientHeight });
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // (Re)load when the cluster changes (reset) or the catalogue changes (refresh in place).
  useEffect(() => {
    const g = ++gen.current;
    const prev = shown.current;
    shown.current = { cluster: clusterId, version: dataVersion };
    if (!prev || prev.cluster !== clusterId) {
      setPages(new Map());
      setTotal(null);
      setSel(new Set());
      setAnchor(null);
      setActive(0);
      setError(null);
      if (scroller.current) scroller.current.scrollTop = 0;
      setScrollTop(0);
      void fetchPages([0], g, true);
    } else if (prev.version !== dataVersion) {
      const keys = [...pagesRef.current.keys()];
      void fetchPages(keys.length ? keys : [0], g, true);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [clusterId, dataVersion]);

  async function fetchPages(keys: number[], g: number, replace: boolean) {
    const todo = keys.filter((p) => !pending.current.has(`${g}:${p}`));
    if (!todo.length) return;
    todo.forEach((p) => pending.current.add(`${g}:${p}`));
    try {
      const results = await Promise.all(todo.map((p) => api.clusterVideos(clusterId, p * PAGE, PAGE)));
      if (g !== gen.current) return;
      const last = results[results.length - 1];
      if (last) setTotal(last.total);
      setError(null);
      setPages((old) => {
        const m = replace ? new Map<number, Video[]>() : new Map(old);
        todo.forEach((p, i) => m.set(p, results[i]!.videos));
        if (replace) {
          // Keep only selected videos that are still here.
          const present = new Set<number>();
          m.forEach((vs) => vs.forEach((v) => present.add(v.id)));
          setSel((s) => {
            const next = new Set([...s].filter((id) => present.has(id)));
            return next.size === s.size ? s : next;
          });
        }
        return m;
      });
    } catch (e) {
      if (g === gen.current) setError(errorMessage(e));
    } finally {
      todo.forEach((p) => pending.current.delete(`${g}:${p}`));
    }
  }

  // Layout.
  const n = total ?? 0;
  const cols = Math.max(1, Math.floor((size.w + GAP) / (MIN_TILE + GAP)));
  const tileW = cols > 0 ? (size.w - GAP * (cols - 1)) / cols : MIN_TILE;
  const thumbH = Math.round((tileW * 9) / 16);
  const tileH = thumbH + CAPTION;
  const rowH = tileH + GAP;
  const rows = Math.ceil(n / cols);
  const firstRow = Math.max(0, Math.floor(scrollTop / rowH) - OVERSCAN_ROWS);
  const lastRow = Math.min(rows - 1, Math.ceil((scrollTop + size.h) / rowH) + OVERSCAN_ROWS);
  const firstIdx = firstRow * cols;
  const lastIdx = Math.min(n - 1, (lastRow + 1) * cols - 1);

  // Fetch the pages that are in view.
  useEffect(() => {
    if (total === null || n === 0 || lastIdx < firstIdx) return;
    const need: number[] = [];
    for (let p = Math.floor(firstIdx / PAGE); p <= Math.floor(lastIdx / PAGE); p++) {
      if (!pages.has(p)) need.push(p);
    }
    if (need.length) void fetchPages(need, gen.current, false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [firstIdx, lastIdx, total, pages]);

  const videoAt = (i: number): Video | undefined => pages.get(Math.floor(i / PAGE))?.[i % PAGE];

  const orderedSelection = (s: Set<number>): number[] => {
    const out: number[] = [];
    for (const p of [...pages.keys()].sort((a, b) => a - b)) {
      for (const v of pages.get(p) ?? []) if (s.has(v.id)) out.push(v.id);
    }
    // Selected ids not in a loaded page (should not happen) go last.
    for (const id of s) if (!out.includes(id)) out.push(id);
    return out;
  };

  const rangeIds = (a: number, b: number): number[] => {
    const out: number[] = [];
    for (let i = Math.min(a, b); i <= Math.max(a, b); i++) {
      const v = videoAt(i);
      if (v) out.push(v.id);
    }
    return out;
  };

  const scrollToIndex = (i: number) => {
    const el = scroller.current;
    if (!el) return;
    const top = Math.floor(i / cols) * rowH;
    const padTop = parseFloat(getComputedStyle(el).paddingTop) || 0;
    if (top + padTop < el.scrollTop) el.scrollTop = top;
    else if (top + tileH + padTop * 2 > el.scrollTop + el.clientHeight) el.scrollTop = top + tileH + padTop * 2 - el.clientHeight;
  };

  const selectAll = async () => {
    // Load whatever is missing first, so "all" means all.
    const missing: number[] = [];
    for (let p = 0; p * PAGE < n; p++) if (!pages.has(p)) missing.push(p);
    if (missing.length) await fetchPages(missing, gen.current, false);
    setPages((m) => {
      const ids = new Set<number>();
      m.forEach((vs) => vs.forEach((v) => ids.add(v.id)));
      setSel(ids);
      return m;
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (!n) return;
    if (!kbd && !e.ctrlKey && !e.metaKey && e.key !== 'Escape') setKbd(true);
    const mod = e.ctrlKey || e.metaKey;
    const perPage = Math.max(1, Math.floor(size.h / rowH)) * cols;
    let next = active;
    switch (e.key) {
      case 'ArrowRight':
        next = active + 1;
        break;
      case 'ArrowLeft':
        next = active - 1;
        break;
      case 'ArrowDown':
        next = active + cols;
        break;
      case 'ArrowUp':
        next = active - cols;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = n - 1;
        break;
      case 'PageDown':
        next = active + perPage;
        break;
      case 'PageUp':
        next = active - perPage;
        break;
      case 'Enter': {
        const v = videoAt(active);
        if (v) {
          e.preventDefault();
          onOpen(v.id);
        }
        return;
      }
      case ' ': {
        e.preventDefault();
        const v = videoAt(active);
        if (!v) return;
        const s = new Set(sel);
        if (s.has(v.id)) s.delete(v.id);
        else s.add(v.id);
        setSel(s);
        setAnchor(active);
        return;
      }
      case 'a':
      case 'A':
        if (mod) {
          e.preventDefault();
          void selectAll();
        }
        return;
      case 'Escape':
        if (sel.size) {
          e.preventDefault();
          e.stopPropagation();
          setSel(new Set());
        }
        return;
      default:
        return;
    }
    e.preventDefault();
    next = Math.max(0, Math.min(n - 1, next));
    setActive(next);
    if (e.shiftKey) {
      const a = anchor ?? active;
      setAnchor(a);
      setSel(new Set(rangeIds(a, next)));
    } else if (!mod) {
      const v = videoAt(next);
      setSel(v ? new Set([v.id]) : new Set());
      setAnchor(next);
    }
    scrollToIndex(next);
  };

  const onTileClick = (e: MouseEvent, i: number, v: Video) => {
    setKbd(false);
    scroller.current?.focus({ preventScroll: true });
    setActive(i);
    if (e.shiftKey && anchor !== null) {
      const ids = rangeIds(anchor, i);
      setSel(e.ctrlKey || e.metaKey ? new Set([...sel, ...ids]) : new Set(ids));
    } else if (e.ctrlKey || e.metaKey) {
      const s = new Set(sel);
      if (s.has(v.id)) s.delete(v.id);
      else s.add(v.id);
      setSel(s);
      setAnchor(i);
    } else {
      setSel(new Set([v.id]));
      setAnchor(i);
    }
  };

  const onTileDragStart = (e: DragEvent, i: number, v: Video) => {
    let ids: number[];
    if (sel.has(v.id)) ids = orderedSelection(sel);
    else {
      ids = [v.id];
      setSel(new Set([v.id]));
      setAnchor(i);
      setActive(i);
    }
    startVideoDrag(e, ids, v.name);
  };

  let scrollRaf = 0;
  const onScroll = () => {
    if (scrollRaf) return;
    scrollRaf = requestAnimationFrame(() => {
      scrollRaf = 0;
      if (scroller.current) setScrollTop(scroller.current.scrollTop);
    });
  };

  const tiles = [];
  if (n > 0 && size.w > 0) {
    for (let i = firstIdx; i <= lastIdx; i++) {
      const v = videoAt(i);
      const x = (i % cols) * (tileW + GAP);
      const y = Math.floor(i / cols) * rowH;
      const style = { transform: `translate(${x}px, ${y}px)`, width: `${tileW}px`, height: `${tileH}px` };
      if (!v) {
        tiles.push(<div key={`p${i}`} class="tile tile-loading" style={style} aria-hidden="true" />);
        continue;
      }
      tiles.push(
        <Tile
          key={v.id}
          video={v}
          index={i}
          style={style}
          thumbH={thumbH}
          selected={sel.has(v.id)}
          active={focused && kbd && i === active}
          onClick={onTileClick}
          onOpen={onOpen}
          onDragStart={onTileDragStart}
        />,
      );
    }
  }

  const activeVideo = videoAt(active);
  const selected = sel.size;
  const others = useMemo(() => clusters.filter((c) => c.id !== clusterId), [clusters, clusterId]);
  const selIds = () => orderedSelection(sel);

  return (
    <div class="grid-wrap">
      <div class={`selection-bar${selected ? ' has-selection' : ''}`} data-testid="selection-bar">
        {selected ? (
          <>
            <strong data-testid="selection-count">{plural(selected, 'video')} selected</strong>
            <label class="inline-field">
              <span>Move to</span>
              <select
                class="select"
                data-testid="move-to"
                value=""
                onChange={(e) => {
                  const t = e.target as HTMLSelectElement;
                  const id = Number(t.value);
                  t.value = '';
                  if (id) void assignVideos(selIds(), id);
                }}
              >
                <option value="">Choose a cluster…</option>
                {others.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" class="btn btn-small" onClick={() => void assignToNewFolder(selIds())}>
              <Icon name="folderPlus" size={15} /> New folder…
            </button>
            <button type="button" class="btn btn-small btn-ghost" onClick={() => setSel(new Set())}>
              Clear
            </button>
          </>
        ) : (
          <span class="muted">
            Click to select, Shift- or {isMac() ? '⌘' : 'Ctrl'}-click for more, drag onto a cluster to move. Double-click or
            Enter opens.
          </span>
        )}
      </div>
      <div
        ref={scroller}
        class="grid-scroller"
        tabIndex={0}
        role="listbox"
        aria-label="Videos"
        aria-multiselectable="true"
        aria-activedescendant={focused && activeVideo ? `tile-${activeVideo.id}` : undefined}
        data-testid="video-grid"
        data-total={total ?? ''}
        onScroll={onScroll}
        onKeyDown={onKeyDown}
        onFocus={(e) => {
          setFocused(true);
          if ((e.currentTarget as HTMLElement).matches(':focus-visible')) setKbd(true);
        }}
        onMouseDown={() => setKbd(false)}
        onBlur={() => setFocused(false)}
      >
        {error ? (
          <div class="empty-state" role="alert">
            <Icon name="alert" size={28} />
            <p>Could not load the videos: {error}</p>
          </div>
        ) : total === 0 ? (
          <div class="empty-state">
            <Icon name="film" size={28} />
            <p>This cluster is empty. Drag videos here from another cluster.</p>
          </div>
        ) : total === null ? (
          <div class="empty-state">
            <span class="spinner" aria-hidden="true" /> Loading videos…
          </div>
        ) : (
          <div class="grid-canvas" style={{ height: `${Math.max(0, rows * rowH - GAP)}px` }}>
            {tiles}
          </div>
        )}
      </div>
    </div>
  );
}

function isMac(): boolean {
  return /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
}

interface TileProps {
  video: Video;
  index: number;
  style: Record<string, string>;
  thumbH: number;
  selected: boolean;
  active: boolean;
  onClick: (e: MouseEvent, i: number, v: Video) => void;
  onOpen: (id: number) => void;
  onDragStart: (e: DragEvent, i: number, v: Video) => void;
}

function Tile({ video, index, style, thumbH, selected, active, onClick, onOpen, onDragStart }: TileProps) {
  const [frame, setFrame] = useState<number | null>(null);
  const [posterFailed, setPosterFailed] = useState(false);
  const [badFrames, setBadFrames] = useState(false);
  const src = frame !== null && !badFrames ? urls.frame(video.id, frame) : urls.poster(video.id);
  const meta = [
    video.width && video.height ? `${video.width}×${video.height}` : null,
    video.codec ? video.codec.replace(/\s*\(.*\)\s*$/, '') : null,
    video.size ? fmtSize(video.size) : null,
  ]
    .filter(Boolean)
    .join(' · ');
  return (
    <div
      id={`tile-${video.id}`}
      role="option"
      aria-selected={selected}
      aria-label={video.name}
      class={`tile${selected ? ' selected' : ''}${active ? ' active' : ''}`}
      style={style}
      draggable
      data-testid="video-tile"
      data-video-id={video.id}
      data-video-name={video.name}
      onClick={(e) => onClick(e, index, video)}
      onDblClick={() => onOpen(video.id)}
      onDragStart={(e) => onDragStart(e, index, video)}
      onDragEnd={endDrag}
    >
      <div
        class="tile-thumb"
        style={{ height: `${thumbH}px` }}
        onMouseMove={(e) => {
          const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
          const f = Math.min(0.9999, Math.max(0, (e.clientX - r.left) / r.width));
          setFrame(Math.floor(f * FRAMES_PER_VIDEO));
        }}
        onMouseLeave={() => setFrame(null)}
      >
        {posterFailed && frame === null ? (
          <div class="poster-missing">
            <Icon name="film" size={26} />
          </div>
        ) : (
          <img
            src={src}
            alt=""
            draggable={false}
            decoding="async"
            data-testid="tile-img"
            onError={() => {
              if (frame !== null) setBadFrames(true);
              else setPosterFailed(true);
            }}
          />
        )}
        {frame !== null && !badFrames ? (
          <div class="scrub-bar" aria-hidden="true">
            <div style={{ width: `${((frame + 1) / FRAMES_PER_VIDEO) * 100}%` }} />
          </div>
        ) : null}
        <span class="tile-duration">{fmtDuration(video.duration_ms)}</span>
        {video.assigned_by === 'user' ? (
          <span class="tile-badge" title="You put this video here">
            <Icon name="check" size={12} />
          </span>
        ) : null}
        <button
          type="button"
          class="tile-open"
          tabIndex={-1}
          aria-label={`Open ${video.name}`}
          onClick={(e) => {
            e.stopPropagation();
            onOpen(video.id);
          }}
        >
          <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
            <path d="M8 5v14l11-7z" fill="currentColor" />
          </svg>
        </button>
        {selected ? (
          <span class="tile-check" aria-hidden="true">
            <Icon name="check" size={14} />
          </span>
        ) : null}
      </div>
      <div class="tile-caption">
        <span class="tile-name" title={video.path}>
          {video.name}
        </span>
        <span class="tile-meta">{meta}</span>
      </div>
    </div>
  );
}
