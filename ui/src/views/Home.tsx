// The catalogue overview: one card per cluster plus the failed files.

import { useMemo } from 'preact/hooks';
import { ClusterCard } from '../components/ClusterCard';
import { Icon } from '../components/Icon';
import { clusterColours, plural } from '../format';
import { href } from '../router';
import { openDialog, useStore } from '../store';

export function Home() {
  const clusters = useStore((s) => s.clusters);
  const lib = useStore((s) => s.status?.library);
  const colours = useMemo(() => clusterColours(clusters), [clusters]);
  // Normal clusters first (largest first), Unsorted last.
  const sorted = useMemo(
    () =>
      [...clusters].sort((a, b) =>
        a.kind !== b.kind ? (a.kind === 'unsorted' ? 1 : -1) : b.count - a.count || a.name.localeCompare(b.name),
      ),
    [clusters],
  );
  const pending = lib ? lib.ok - lib.embedded : 0;
  return (
    <div class="page home" data-testid="home">
      <div class="page-head">
        <div>
          <h1>Clusters</h1>
          <p class="muted">
            {plural(clusters.length, 'cluster')} · {plural(lib?.ok ?? 0, 'video')}. Drag a card onto another to merge them;
            double-click a name to rename it.
          </p>
        </div>
      </div>
      {clusters.length === 0 ? (
        <div class="empty-state" data-testid="no-clusters">
          <Icon name="grid" size={30} />
          <p>
            {pending > 0
              ? `${plural(pending, 'video')} still need their features extracted. Add the folder again to continue.`
              : 'No clusters yet.'}
          </p>
          <button type="button" class="btn" onClick={() => openDialog({ type: 'recluster' })}>
            Cluster now
          </button>
        </div>
      ) : (
        <div class="card-grid" data-testid="cluster-grid">
          {sorted.map((c) => (
            <ClusterCard key={c.id} cluster={c} colour={colours.get(c.id) ?? '#888'} />
          ))}
          {lib && lib.failed > 0 ? (
            <a class="failed-card" href={href({ name: 'failed' })} data-testid="failed-card">
              <span class="failed-icon">
                <Icon name="alert" size={26} />
              </span>
              <span class="failed-title">Failed files</span>
              <span class="muted">{plural(lib.failed, 'file')} could not be used</span>
            </a>
          ) : null}
        </div>
      )}
    </div>
  );
}
