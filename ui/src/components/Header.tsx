// The app bar: library name and stats, the views, and the main actions.

import { baseName, plural } from '../format';
import { useEffect, useState } from 'preact/hooks';
import { href, navigate, type Route } from '../router';
import { openDialog, undo, useStore } from '../store';
import { Icon } from './Icon';

export function Header({ route, hasLibrary }: { route: Route; hasLibrary: boolean }) {
  const status = useStore((s) => s.status);
  const connected = useStore((s) => s.connected);
  const running = useStore((s) => s.job?.state === 'running');
  const lib = status?.library;
  const roots = lib?.roots ?? [];
  const libName = roots.length ? baseName(roots[0]!) + (roots.length > 1 ? ` +${roots.length - 1}` : '') : 'No library';
  const mapActive = route.name === 'map';
  const clustersActive = route.name === 'home' || route.name === 'cluster' || route.name === 'failed' || route.name === 'video';
  return (
    <header class="app-header">
      <a class="brand" href="#/" aria-label="Reelmap, home">
        <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
          <rect width="32" height="32" rx="8" fill="var(--accent)" />
          <circle cx="11" cy="12" r="3.2" fill="#fff" />
          <circle cx="21" cy="10" r="2.4" fill="#fff" opacity=".8" />
          <circle cx="20" cy="21" r="3.6" fill="#fff" opacity=".9" />
          <circle cx="10" cy="22" r="2" fill="#fff" opacity=".7" />
        </svg>
        <span>Reelmap</span>
      </a>
      {hasLibrary && lib ? (
        <div class="lib-info" title={roots.join('\n')} data-testid="library-info">
          <span class="lib-name">{libName}</span>
          <span class="lib-stats" data-testid="library-stats">
            {plural(lib.ok, 'video')} · {plural(lib.clusters, 'cluster')}
            {lib.failed ? (
              <>
                {' · '}
                <a href={href({ name: 'failed' })} class="lib-failed">
                  {lib.failed} failed
                </a>
              </>
            ) : null}
          </span>
        </div>
      ) : null}
      {hasLibrary ? (
        <nav class="tabs" aria-label="Views">
          <a href="#/" class={clustersActive ? 'active' : ''} aria-current={clustersActive ? 'page' : undefined} data-testid="nav-clusters">
            <Icon name="grid" size={16} /> Clusters
          </a>
          <a href="#/map" class={mapActive ? 'active' : ''} aria-current={mapActive ? 'page' : undefined} data-testid="nav-map">
            <Icon name="map" size={16} /> Map
          </a>
          <a
            href="#/duplicates"
            class={route.name === 'duplicates' ? 'active' : ''}
            aria-current={route.name === 'duplicates' ? 'page' : undefined}
            data-testid="nav-duplicates"
          >
            <Icon name="copy" size={16} /> Duplicates
          </a>
          <a
            href="#/find"
            class={route.name === 'find' ? 'active' : ''}
            aria-current={route.name === 'find' ? 'page' : undefined}
            data-testid="nav-find"
          >
            <Icon name="search" size={16} /> Find
          </a>
        </nav>
      ) : null}
      {hasLibrary ? <HeaderSearch route={route} /> : null}
      <div class="spacer" />
      {!connected && status ? (
        <span class="offline" title="Live updates are reconnecting" data-testid="offline">
          <span class="dot" /> Reconnecting…
        </span>
      ) : null}
      {hasLibrary && lib ? (
        <div class="header-actions">
          <button
            type="button"
            class="btn btn-ghost"
            onClick={() => void undo()}
            disabled={!lib.can_undo_edit}
            title="Undo the last move, rename or merge (Ctrl+Z)"
            data-testid="undo-button"
          >
            <Icon name="undo" /> <span class="label">Undo</span>
          </button>
          <button
            type="button"
            class="btn btn-ghost"
            onClick={() => openDialog({ type: 'recluster' })}
            disabled={running}
            data-testid="header-recluster"
          >
            <Icon name="shuffle" /> <span class="label">Re-cluster</span>
          </button>
          <button type="button" class="btn btn-ghost" onClick={() => openDialog({ type: 'apply' })} data-testid="apply-open">
            <Icon name="apply" /> <span class="label">Apply folders</span>
          </button>
          <button
            type="button"
            class="btn btn-primary"
            onClick={() => openDialog({ type: 'add' })}
            disabled={running}
            data-testid="add-folders"
          >
            <Icon name="plus" /> <span class="label">Add folders</span>
          </button>
        </div>
      ) : null}
    </header>
  );
}

/** The search field of the app bar: Enter opens the Find view with the results. */
function HeaderSearch({ route }: { route: Route }) {
  const current = route.name === 'find' ? route.q : '';
  const [text, setText] = useState(current);
  useEffect(() => setText(current), [current]);
  return (
    <form
      class="header-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        navigate({ name: 'find', q: text.trim() });
      }}
    >
      <Icon name="search" size={16} />
      <input
        type="search"
        value={text}
        placeholder="Search videos"
        aria-label="Search videos"
        data-testid="header-search"
        onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
      />
    </form>
  );
}
