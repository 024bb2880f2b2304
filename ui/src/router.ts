// Hash routes (#/cluster/3, #/video/7?t=1200, #/map?kind=frame, #/find?q=dog): reloads keep the
// view, and they work the same in a browser and in the desktop webview.

import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'home' }
  | { name: 'add' }
  | { name: 'failed' }
  | { name: 'cluster'; id: number }
  | { name: 'video'; id: number; t: number | null; from: number | null; frame: number | null }
  | { name: 'map'; kind: 'video' | 'frame' }
  | { name: 'duplicates' }
  | { name: 'find'; q: string };

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = h.split('?');
  const q = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  const num = (s: string | undefined) => {
    const n = Number(s);
    return Number.isFinite(n) && s !== undefined && s !== '' ? n : null;
  };
  switch (parts[0]) {
    case 'add':
      return { name: 'add' };
    case 'failed':
      return { name: 'failed' };
    case 'cluster': {
      const id = num(parts[1]);
      return id === null ? { name: 'home' } : { name: 'cluster', id };
    }
    case 'video': {
      const id = num(parts[1]);
      return id === null
        ? { name: 'home' }
        : {
            name: 'video',
            id,
            t: num(q.get('t') ?? undefined),
            from: num(q.get('from') ?? undefined),
            frame: num(q.get('frame') ?? undefined),
          };
    }
    case 'map':
      return { name: 'map', kind: q.get('kind') === 'frame' ? 'frame' : 'video' };
    case 'duplicates':
      return { name: 'duplicates' };
    case 'find':
      return { name: 'find', q: q.get('q') ?? '' };
    default:
      return { name: 'home' };
  }
}

export function href(r: Route): string {
  switch (r.name) {
    case 'home':
      return '#/';
    case 'add':
      return '#/add';
    case 'failed':
      return '#/failed';
    case 'cluster':
      return `#/cluster/${r.id}`;
    case 'video': {
      const q = new URLSearchParams();
      if (r.t !== null) q.set('t', String(Math.round(r.t)));
      if (r.from !== null) q.set('from', String(r.from));
      if (r.frame !== null) q.set('frame', String(r.frame));
      const s = q.toString();
      return `#/video/${r.id}${s ? `?${s}` : ''}`;
    }
    case 'map':
      return r.kind === 'frame' ? '#/map?kind=frame' : '#/map';
    case 'duplicates':
      return '#/duplicates';
    case 'find':
      return r.q ? `#/find?q=${encodeURIComponent(r.q)}` : '#/find';
  }
}

export function navigate(r: Route, replace = false): void {
  const h = href(r);
  if (replace) history.replaceState(null, '', h);
  else if (location.hash !== h) location.hash = h;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function videoRoute(id: number, from: number | null = null, frame: number | null = null): Route {
  return { name: 'video', id, t: null, from, frame };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    let last = location.hash;
    const on = () => {
      if (location.hash === last) return;
      last = location.hash;
      setRoute(parseRoute(last));
    };
    window.addEventListener('hashchange', on);
    window.addEventListener('popstate', on);
    // The address may have changed between the first render and this effect.
    last = '';
    on();
    return () => {
      window.removeEventListener('hashchange', on);
      window.removeEventListener('popstate', on);
    };
  }, []);
  return route;
}

/** The video opened at a time (ms). */
export function videoAt(id: number, ms: number): Route {
  return { name: 'video', id, t: Math.max(0, Math.round(ms)), from: null, frame: null };
}
