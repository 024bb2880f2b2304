// Groups of videos showing the same footage. The person picks the one to keep; the
// others are moved into a "Duplicates" folder through the journal (undoable), never
// deleted.

import { useEffect, useState } from 'preact/hooks';
import { api, type DuplicateGroup, type Duplicates, type Video } from '../api';
import { Icon } from '../components/Icon';
import { Poster } from '../components/Poster';
import { fmtDuration, fmtSize, fmtTime, plural } from '../format';
import { href, videoAt } from '../router';
import { errorMessage, refresh, showError, toast, useStore } from '../store';

export function DuplicatesView() {
  const version = useStore((s) => s.dataVersion);
  const running = useStore((s) => s.job?.state === 'running');
  const [data, setData] = useState<Duplicates | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .duplicates()
      .then((d) => live && (setData(d), setError(null)))
      .catch((e) => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [version]);
  const missing = data ? data.videos - data.indexed : 0;
  return (
    <div class="page" data-testid="duplicates-view">
      <div class="page-head">
        <div>
          <h1>Duplicates</h1>
          <p class="muted">
            Videos showing the same footage — re-encoded, resized, cropped, trimmed or sped up. A shared intro or black
            frames alone do not count. Nothing is deleted: the copies you do not keep move into a “Duplicates” folder,
            and Undo puts them back.
          </p>
        </div>
      </div>
      {missing > 0 ? (
        <div class="notice" data-testid="index-notice">
          <Icon name="info" />
          <span>
            {plural(missing, 'video')} of {data?.videos} {missing === 1 ? 'is' : 'are'} not indexed yet and cannot be
            compared.
          </span>
          <button
            type="button"
            class="btn btn-small"
            disabled={running}
            onClick={() => api.index().catch((e) => showError('Could not start indexing', e))}
            data-testid="index-now"
          >
            Index now
          </button>
        </div>
      ) : null}
      {error ? (
        <div class="inline-error" role="alert">
          Could not look for duplicates: {error}
        </div>
      ) : data === null ? (
        <div class="empty-state">
          <span class="spinner" /> Comparing videos…
        </div>
      ) : data.groups.length === 0 ? (
        <div class="empty-state" data-testid="no-duplicates">
          <Icon name="check" size={28} />
          <p>No duplicates among {plural(data.indexed, 'indexed video')}.</p>
        </div>
      ) : (
        <>
          <p class="muted" data-testid="duplicate-count">
            {plural(data.groups.length, 'group')} of videos showing the same footage.
          </p>
          {data.groups.map((g) => (
            <GroupCard key={g.videos.map((v) => v.id).join('-')} group={g} />
          ))}
        </>
      )}
    </div>
  );
}

function size(v: Video): string {
  const parts = [];
  if (v.width && v.height) parts.push(`${v.width}×${v.height}`);
  if (v.duration_ms) parts.push(fmtDuration(v.duration_ms));
  parts.push(fmtSize(v.size));
  if (v.codec) parts.push(v.codec);
  return parts.join(' · ');
}

function GroupCard({ group }: { group: DuplicateGroup }) {
  const [keep, setKeep] = useState(group.keep);
  const [busy, setBusy] = useState(false);
  const name = (id: number) => group.videos.find((v) => v.id === id)?.name ?? `#${id}`;
  const others = group.videos.filter((v) => v.id !== keep).map((v) => v.id);

  const setAside = async () => {
    setBusy(true);
    try {
      const r = await api.setAside(keep, others);
      const moved = r.files_done;
      toast('info', `${plural(moved, 'copy', 'copies')} moved into “Duplicates”.`, {
        label: 'Undo',
        run: () =>
          void api
            .applyUndo()
            .then(() => refresh())
            .catch((e) => showError('Could not undo', e)),
      });
      if (r.failed.length)
        toast('error', `${plural(r.failed.length, 'file')} could not be moved: ${r.failed.map((f) => f[1]).join('; ')}`);
      await refresh();
    } catch (e) {
      showError('Could not set the duplicates aside', e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="dup-group" data-testid="duplicate-group">
      <ul class="dup-videos">
        {group.videos.map((v) => (
          <li key={v.id} class={`dup-video${v.id === keep ? ' keep' : ''}`} data-video={v.id}>
            <label>
              <input
                type="radio"
                name={`keep-${group.videos[0]?.id}`}
                checked={v.id === keep}
                onChange={() => setKeep(v.id)}
                data-testid="keep-choice"
              />
              <span class="dup-thumb">
                <Poster id={v.id} alt="" />
              </span>
              <span class="dup-text">
                <span class="dup-name" title={v.path}>
                  {v.name}
                </span>
                <span class="muted">{size(v)}</span>
                <span class="muted dup-path">{v.path}</span>
              </span>
              {v.id === keep ? <span class="badge badge-user">keep</span> : null}
            </label>
          </li>
        ))}
      </ul>
      <ul class="dup-pairs">
        {group.pairs.map((p) => (
          <li key={`${p.a}-${p.b}`} data-testid="duplicate-pair">
            <a href={href(videoAt(p.a, p.a_start * 1000))}>{name(p.a)}</a> {fmtTime(p.a_start * 1000)}–
            {fmtTime(p.a_end * 1000)} = <a href={href(videoAt(p.b, p.b_start * 1000))}>{name(p.b)}</a>{' '}
            {fmtTime(p.b_start * 1000)}–{fmtTime(p.b_end * 1000)}
            {Math.abs(p.speed - 1) > 0.01 ? ` at ${p.speed.toFixed(2)}× speed` : ''} · similarity{' '}
            <span data-testid="pair-score">{p.similarity.toFixed(2)}</span>
          </li>
        ))}
      </ul>
      <div class="dup-actions">
        <button
          type="button"
          class="btn btn-primary"
          disabled={busy || others.length === 0}
          onClick={() => void setAside()}
          data-testid="set-aside"
        >
          <Icon name="move" /> Keep “{name(keep)}”, set {plural(others.length, 'copy', 'copies')} aside
        </button>
      </div>
    </section>
  );
}
