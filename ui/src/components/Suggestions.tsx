// "Probably belongs here": videos of other clusters that what the person taught (or
// the cluster's centre) points to, each accepted (moved here) or rejected (never
// offered for this cluster again) with one click.

import { useEffect, useState } from 'preact/hooks';
import { api, type Suggestion } from '../api';
import { assignVideos, showError, useStore } from '../store';
import { Icon } from './Icon';
import { Poster } from './Poster';

export function Suggestions({ clusterId }: { clusterId: number }) {
  const dataVersion = useStore((s) => s.dataVersion);
  const clusters = useStore((s) => s.clusters);
  const [items, setItems] = useState<Suggestion[] | null>(null);
  const [open, setOpen] = useState(false);

  useEffect(() => {
    let live = true;
    api
      .suggestions(clusterId)
      .then((s) => live && setItems(s))
      .catch(() => live && setItems([]));
    return () => {
      live = false;
    };
  }, [clusterId, dataVersion]);

  if (!items || items.length === 0) return null;
  const name = (id: number | null) => clusters.find((c) => c.id === id)?.name ?? 'no cluster';
  const drop = (video: number) => setItems((s) => (s ?? []).filter((x) => x.video.id !== video));
  const accept = async (video: number) => {
    drop(video);
    await assignVideos([video], clusterId);
  };
  const reject = async (video: number) => {
    drop(video);
    try {
      await api.rejectSuggestion(clusterId, video);
    } catch (e) {
      showError('Could not reject the suggestion', e);
    }
  };
  return (
    <section class="suggestions" data-testid="suggestions">
      <button
        type="button"
        class="btn btn-ghost btn-small"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        data-testid="suggestions-toggle"
      >
        <Icon name="info" size={15} /> {items.length} {items.length === 1 ? 'video probably belongs' : 'videos probably belong'}{' '}
        here
      </button>
      {open ? (
        <ul class="suggestion-list">
          {items.map((s) => (
            <li key={s.video.id} class="suggestion" data-testid="suggestion" data-video-id={s.video.id}>
              <div class="suggestion-thumb">
                <Poster id={s.video.id} alt={s.video.name} />
              </div>
              <div class="suggestion-text">
                <span class="suggestion-name" title={s.video.path}>
                  {s.video.name}
                </span>
                <span class="muted">
                  now in {name(s.video.cluster_id)}
                  {s.reason === 'taught' ? ' · like the videos you put here' : ''}
                </span>
              </div>
              <button
                type="button"
                class="btn btn-small"
                title="Move it here"
                onClick={() => void accept(s.video.id)}
                data-testid="suggestion-accept"
              >
                <Icon name="check" size={15} />
              </button>
              <button
                type="button"
                class="btn btn-small btn-ghost"
                title="It does not belong here"
                onClick={() => void reject(s.video.id)}
                data-testid="suggestion-reject"
              >
                <Icon name="close" size={15} />
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
