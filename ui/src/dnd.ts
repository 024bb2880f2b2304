// HTML5 drag and drop (works in the desktop webview, which leaves drops to the page):
// videos onto clusters / the map legend / "New folder", clusters onto clusters.

import { useRef, useState } from 'preact/hooks';

export const MIME_VIDEOS = 'application/x-reelmap-videos';
export const MIME_CLUSTER = 'application/x-reelmap-cluster';

export type DragPayload = { kind: 'videos'; ids: number[] } | { kind: 'cluster'; id: number };

let current: DragPayload | null = null;

function ghost(e: DragEvent, text: string): void {
  const dt = e.dataTransfer;
  if (!dt) return;
  const el = document.createElement('div');
  el.className = 'drag-ghost';
  el.textContent = text;
  document.body.appendChild(el);
  try {
    dt.setDragImage(el, 14, 14);
  } catch {
    /* not supported */
  }
  window.setTimeout(() => el.remove(), 0);
}

export function startVideoDrag(e: DragEvent, ids: number[], label: string): void {
  current = { kind: 'videos', ids };
  const dt = e.dataTransfer;
  if (!dt) return;
  dt.effectAllowed = 'move';
  dt.setData(MIME_VIDEOS, JSON.stringify(ids));
  dt.setData('text/plain', label);
  ghost(e, ids.length === 1 ? label : `${ids.length} videos`);
}

export function startClusterDrag(e: DragEvent, id: number, name: string): void {
  current = { kind: 'cluster', id };
  const dt = e.dataTransfer;
  if (!dt) return;
  dt.effectAllowed = 'move';
  dt.setData(MIME_CLUSTER, String(id));
  dt.setData('text/plain', name);
  ghost(e, `Merge “${name}”`);
}

export function endDrag(): void {
  current = null;
}

function kindOf(e: DragEvent): DragPayload['kind'] | null {
  const types = Array.from(e.dataTransfer?.types ?? []);
  if (types.includes(MIME_VIDEOS)) return 'videos';
  if (types.includes(MIME_CLUSTER)) return 'cluster';
  return current?.kind ?? null;
}

function payload(e: DragEvent): DragPayload | null {
  const dt = e.dataTransfer;
  try {
    const v = dt?.getData(MIME_VIDEOS);
    if (v) {
      const ids = (JSON.parse(v) as unknown[]).map(Number).filter(Number.isFinite);
      if (ids.length) return { kind: 'videos', ids };
    }
    const c = dt?.getData(MIME_CLUSTER);
    if (c) return { kind: 'cluster', id: Number(c) };
  } catch {
    /* fall back to the in-page payload */
  }
  return current;
}

export interface DropTarget {
  over: boolean;
  props: {
    onDragEnter: (e: DragEvent) => void;
    onDragOver: (e: DragEvent) => void;
    onDragLeave: (e: DragEvent) => void;
    onDrop: (e: DragEvent) => void;
  };
}

/** Makes an element a drop target for the given payload kinds. */
export function useDropTarget(
  accept: (kind: DragPayload['kind'], p: DragPayload | null) => boolean,
  onDrop: (p: DragPayload) => void,
): DropTarget {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const ok = (e: DragEvent) => {
    const k = kindOf(e);
    return k !== null && accept(k, current);
  };
  return {
    over,
    props: {
      onDragEnter: (e) => {
        if (!ok(e)) return;
        e.preventDefault();
        depth.current++;
        setOver(true);
      },
      onDragOver: (e) => {
        if (!ok(e)) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = 'move';
        if (!over) setOver(true);
      },
      onDragLeave: () => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      },
      onDrop: (e) => {
        depth.current = 0;
        setOver(false);
        if (!ok(e)) return;
        e.preventDefault();
        e.stopPropagation();
        const p = payload(e);
        current = null;
        if (p && accept(p.kind, p)) onDrop(p);
      },
    },
  };
}
