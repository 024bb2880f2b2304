// One cluster: its videos in a virtualised grid, with the cluster list kept as a
// sidebar so videos can be dragged onto another cluster or a new folder.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { ClusterListItem, NewFolderTarget } from '../components/ClusterCard';
import { ClusterName } from '../components/ClusterName';
import { Icon } from '../components/Icon';
import { Suggestions } from '../components/Suggestions';
import { VideoGrid } from '../components/VideoGrid';
import { clusterColours, plural } from '../format';
import { href, navigate, videoRoute } from '../router';
import { openDialog, useStore } from '../store';

export function Sidebar({ activeId }: { activeId: number | null }) {
  const clusters = useStore((s) => s.clusters);
  const failed = useStore((s) => s.status?.library.failed ?? 0);
  const colours = useMemo(() => clusterColours(clusters), [clusters]);
  const sorted = useMemo(
    () =>
      [...clusters].sort((a, b) =>
        a.kind !== b.kind ? (a.kind === 'unsorted' ? 1 : -1) : a.name.localeCompare(b.name),
      ),
    [clusters],
  );
  return (
    <aside class="sidebar" aria-label="Clusters" data-testid="sidebar">
      <div class="side-head">
        <a href={href({ name: 'home' })} class="side-title">
          Clusters
        </a>
        <span class="muted">{clusters.length}</span>
      </div>
      <ul class="side-list">
        {sorted.map((c) => (
          <ClusterListItem key={c.id} cluster={c} colour={colours.get(c.id) ?? '#888'} active={c.id === activeId} />
        ))}
      </ul>
      <NewFolderTarget compact />
      {failed > 0 ? (
        <a class="side-failed" href={href({ name: 'failed' })}>
          <Icon name="alert" size={15} /> Failed files <span class="side-count">{failed}</span>
        </a>
      ) : null}
    </aside>
  );
}

export function ClusterView({ id }: { id: number }) {
  const clusters = useStore((s) => s.clusters);
  const loaded = useStore((s) => s.clustersLoaded);
  const cluster = clusters.find((c) => c.id === id);
  const [editing, setEditing] = useState(false);
  const colours = useMemo(() => clusterColours(clusters), [clusters]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.key === 'F2' && !document.querySelector('dialog[open]') && !t?.closest('input, textarea, select')) {
        e.preventDefault();
        setEditing(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (!cluster) {
    return (
      <div class="split">
        <Sidebar activeId={null} />
        <section class="split-main">
          {loaded ? (
            <div class="empty-state" data-testid="cluster-missing">
              <Icon name="info" size={28} />
              <p>This cluster no longer exists (it may have been merged or re-clustered).</p>
              <a class="btn" href={href({ name: 'home' })}>
                Back to the clusters
              </a>
            </div>
          ) : (
            <div class="empty-state">
              <span class="spinner" /> Loading…
            </div>
          )}
        </section>
      </div>
    );
  }

  return (
    <div class="split" data-testid="cluster-view" data-cluster-id={cluster.id}>
      <Sidebar activeId={cluster.id} />
      <section class="split-main">
        <div class="cluster-head" style={{ '--cluster-colour': colours.get(cluster.id) ?? '#888' }}>
          <div class="cluster-title">
            <a class="crumb" href={href({ name: 'home' })} data-back>
              Clusters
            </a>
            <span class="crumb-sep" aria-hidden="true">
              /
            </span>
            <span class="swatch swatch-lg" aria-hidden="true" />
            <ClusterName cluster={cluster} editing={editing} setEditing={setEditing} tag="h1" />
            <span class="muted" data-testid="cluster-view-count">
              {plural(cluster.count, 'video')}
            </span>
            {cluster.kind === 'unsorted' ? <span class="badge">Unsorted</span> : null}
          </div>
          <div class="page-actions">
            <button
              type="button"
              class="btn btn-small"
              onClick={() => setEditing(true)}
              data-testid="rename-cluster"
              title="Rename (F2)"
            >
              <Icon name="pencil" size={15} /> Rename
            </button>
            <button
              type="button"
              class="btn btn-small"
              onClick={() => openDialog({ type: 'merge', clusterId: cluster.id })}
              data-testid="merge-cluster"
            >
              <Icon name="merge" size={15} /> Merge into…
            </button>
          </div>
        </div>
        {cluster.kind === 'normal' ? <Suggestions clusterId={cluster.id} /> : null}
        <VideoGrid
          clusterId={cluster.id}
          clusters={clusters}
          onOpen={(vid) => navigate(videoRoute(vid, cluster.id))}
        />
      </section>
    </div>
  );
}
