// Cluster cards (overview) and the compact cluster list (sidebar). Both accept
// dropped videos (move) and dropped clusters (merge); both can be dragged (merge).

import { useState } from 'preact/hooks';
import type { Cluster } from '../api';
import { endDrag, startClusterDrag, useDropTarget, type DragPayload } from '../dnd';
import { plural } from '../format';
import { href, navigate } from '../router';
import { assignToNewFolder, assignVideos, mergeClusters, openDialog } from '../store';
import { ClusterName } from './ClusterName';
import { Icon } from './Icon';
import { Poster } from './Poster';

function useClusterDrop(cluster: Cluster, open = false) {
  return useDropTarget(
    // Videos dragged out of the open cluster cannot go back into it.
    (kind, p) =>
      (kind === 'videos' && !open) || (kind === 'cluster' && (!p || p.kind !== 'cluster' || p.id !== cluster.id)),
    (p: DragPayload) => {
      if (p.kind === 'videos') void assignVideos(p.ids, cluster.id);
      else if (p.id !== cluster.id) void mergeClusters(p.id, cluster.id);
    },
  );
}

export function ClusterCard({ cluster, colour }: { cluster: Cluster; colour: string }) {
  const [editing, setEditing] = useState(false);
  const drop = useClusterDrop(cluster);
  const unsorted = cluster.kind === 'unsorted';
  const open = () => navigate({ name: 'cluster', id: cluster.id });
  const tiles = [0, 1, 2, 3].map((i) => cluster.mosaic[i]);
  return (
    <article
      class={`cluster-card${unsorted ? ' unsorted' : ''}${drop.over ? ' drop-over' : ''}`}
      data-testid="cluster-card"
      data-cluster-id={cluster.id}
      data-cluster-name={cluster.name}
      draggable={!editing}
      onDragStart={(e) => startClusterDrag(e, cluster.id, cluster.name)}
      onDragEnd={endDrag}
      {...drop.props}
      style={{ '--cluster-colour': colour }}
    >
      <a
        class="mosaic"
        href={href({ name: 'cluster', id: cluster.id })}
        aria-label={`Open ${cluster.name}, ${plural(cluster.count, 'video')}`}
        draggable={false}
        onKeyDown={(e) => {
          if (e.key === 'F2') {
            e.preventDefault();
            setEditing(true);
          }
        }}
      >
        {tiles.map((id, i) =>
          id !== undefined ? (
            <Poster key={i} id={id} alt="" />
          ) : (
            <div key={i} class="mosaic-empty" aria-hidden="true" />
          ),
        )}
        {drop.over ? <div class="drop-hint">Drop to move here</div> : null}
      </a>
      <div
        class="card-body"
        onClick={(e) => {
          // A click opens the cluster, except on the name (double-click renames it)
          // and on the buttons.
          if (editing || (e.target as HTMLElement).closest('button, input, .cluster-name')) return;
          open();
        }}
      >
        <div class="card-title-row">
          <span class="swatch" aria-hidden="true" />
          <ClusterName cluster={cluster} editing={editing} setEditing={setEditing} tag="h3" class="card-title" />
        </div>
        <div class="card-meta">
          <span data-testid="cluster-count">{plural(cluster.count, 'video')}</span>
          {unsorted ? <span class="badge">Unsorted</span> : null}
          {cluster.name_source === 'user' ? <span class="badge badge-user">Named by you</span> : null}
          {!unsorted && cluster.name_source === 'auto' && cluster.confidence !== null && cluster.confidence > 0 ? (
            <span class="muted" title="How much of the cluster the name describes">
              {Math.round(cluster.confidence * 100)}% match
            </span>
          ) : null}
        </div>
        <div class="card-actions">
          <button
            type="button"
            class="btn-icon btn-small"
            aria-label={`Rename ${cluster.name}`}
            title="Rename (F2)"
            data-testid="rename-button"
            onClick={() => setEditing(true)}
          >
            <Icon name="pencil" size={15} />
          </button>
          <button
            type="button"
            class="btn-icon btn-small"
            aria-label={`Merge ${cluster.name} into another cluster`}
            title="Merge into…"
            data-testid="merge-button"
            onClick={() => openDialog({ type: 'merge', clusterId: cluster.id })}
          >
            <Icon name="merge" size={15} />
          </button>
        </div>
      </div>
    </article>
  );
}

export function ClusterListItem({
  cluster,
  colour,
  active,
}: {
  cluster: Cluster;
  colour: string;
  active: boolean;
}) {
  const [editing, setEditing] = useState(false);
  const drop = useClusterDrop(cluster, active);
  return (
    <li
      class={`side-item${active ? ' active' : ''}${drop.over ? ' drop-over' : ''}${cluster.kind === 'unsorted' ? ' unsorted' : ''}`}
      data-testid="sidebar-cluster"
      data-cluster-id={cluster.id}
      data-cluster-name={cluster.name}
      draggable={!editing}
      onDragStart={(e) => startClusterDrag(e, cluster.id, cluster.name)}
      onDragEnd={endDrag}
      {...drop.props}
      style={{ '--cluster-colour': colour }}
    >
      <span class="swatch" aria-hidden="true" />
      {editing ? (
        <ClusterName cluster={cluster} editing={editing} setEditing={setEditing} />
      ) : (
        <a
          href={href({ name: 'cluster', id: cluster.id })}
          class="side-link"
          aria-current={active ? 'page' : undefined}
          draggable={false}
          onDblClick={(e) => {
            e.preventDefault();
            setEditing(true);
          }}
          onKeyDown={(e) => {
            if (e.key === 'F2') {
              e.preventDefault();
              e.stopPropagation();
              setEditing(true);
            }
          }}
          title={`${cluster.name} — double-click to rename`}
        >
          {cluster.name}
        </a>
      )}
      <span class="side-count">{cluster.count.toLocaleString()}</span>
    </li>
  );
}

export function NewFolderTarget({ compact = false }: { compact?: boolean }) {
  const drop = useDropTarget(
    (kind) => kind === 'videos',
    (p) => {
      if (p.kind === 'videos') void assignToNewFolder(p.ids);
    },
  );
  return (
    <div
      class={`new-folder-target${compact ? ' compact' : ''}${drop.over ? ' drop-over' : ''}`}
      data-testid="new-folder-target"
      {...drop.props}
    >
      <Icon name="folderPlus" />
      <span>{drop.over ? 'Drop to create a folder' : 'New folder — drop videos here'}</span>
    </div>
  );
}
