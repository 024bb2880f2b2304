// A cluster name that can be renamed in place: Enter saves, Esc cancels, leaving the
// field saves too.

import { useLayoutEffect, useRef } from 'preact/hooks';
import type { Cluster } from '../api';
import { renameCluster } from '../store';

export function ClusterName(props: {
  cluster: Cluster;
  editing: boolean;
  setEditing: (v: boolean) => void;
  tag?: 'h1' | 'h3' | 'span';
  class?: string;
}) {
  const { cluster, editing, setEditing } = props;
  const input = useRef<HTMLInputElement>(null);
  // Set when this edit has been saved or cancelled (blur after Enter/Esc is ignored).
  const done = useRef(false);
  const wasEditing = useRef(false);
  if (editing && !wasEditing.current) done.current = false;
  wasEditing.current = editing;

  // Focus and select as soon as the field exists (before the next paint).
  useLayoutEffect(() => {
    if (editing && input.current && document.activeElement !== input.current) {
      input.current.focus();
      input.current.select();
    }
  }, [editing]);

  const save = async () => {
    if (done.current) return;
    done.current = true;
    const name = (input.current?.value ?? '').trim();
    setEditing(false);
    if (name && name !== cluster.name) await renameCluster(cluster.id, name);
  };
  const cancel = () => {
    done.current = true;
    setEditing(false);
  };

  if (editing) {
    return (
      <input
        ref={input}
        class={`rename-input ${props.class ?? ''}`}
        defaultValue={cluster.name}
        aria-label={`New name for ${cluster.name}`}
        data-testid="rename-input"
        maxLength={120}
        onClick={(e) => e.stopPropagation()}
        onDblClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          e.stopPropagation();
          if (e.key === 'Enter') {
            e.preventDefault();
            void save();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            cancel();
          }
        }}
        onBlur={() => void save()}
      />
    );
  }
  const Tag = props.tag ?? 'span';
  return (
    <Tag
      class={`cluster-name ${props.class ?? ''}`}
      title="Double-click to rename"
      data-testid="cluster-name"
      onDblClick={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setEditing(true);
      }}
    >
      {cluster.name}
    </Tag>
  );
}
