// Finding videos: by words (file name, folder, cluster, what the frames show), and by
// a clip — dropped here or chosen — whose source videos open at the matching time.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api, urls, type FindResult, type SearchHit } from '../api';
import { Icon } from '../components/Icon';
import { Poster } from '../components/Poster';
import { baseName, fmtDuration, fmtTime, plural } from '../format';
import { href, navigate, videoAt } from '../router';
import { errorMessage, setState, useStore } from '../store';

export function FindView({ q }: { q: string }) {
  return (
    <div class="page" data-testid="find-view">
      <div class="page-head">
        <div>
          <h1>Find</h1>
          <p class="muted">
            Search by name, folder, cluster or what the videos show (“dog”, “vehicle”), or drop a clip to find the videos
            it was cut from.
          </p>
        </div>
      </div>
      <SearchBox q={q} />
      <SearchResults q={q} />
      <ClipFinder />
    </div>
  );
}

function SearchBox({ q }: { q: string }) {
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  return (
    <form
      class="find-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        navigate({ name: 'find', q: text.trim() }, true);
      }}
    >
      <Icon name="search" />
      <input
        type="search"
        value={text}
        placeholder="dog, beach, holiday 2023…"
        aria-label="Search videos"
        data-testid="search-input"
        onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
      />
      <button type="submit" class="btn btn-primary" data-testid="search-submit">
        Search
      </button>
    </form>
  );
}

function SearchResults({ q }: { q: string }) {
  const version = useStore((s) => s.dataVersion);
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!q.trim()) {
      setHits(null);
      return;
    }
    let live = true;
    setError(null);
    api
      .search(q)
      .then((h) => live && setHits(h))
      .catch((e) => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [q, version]);
  if (!q.trim()) return null;
  if (error) return <div class="inline-error" role="alert">Search failed: {error}</div>;
  if (!hits)
    return (
      <div class="empty-state small">
        <span class="spinner" /> Searching…
      </div>
    );
  return (
    <section class="find-section" aria-label="Search results">
      <h2>
        {hits.length ? plural(hits.length, 'video') : 'No videos'} for “{q}”
      </h2>
      {hits.length === 0 ? (
        <p class="muted">Nothing in the names, folders, clusters or frames matches. Try a more general word.</p>
      ) : (
        <ul class="hit-grid" data-testid="search-results">
          {hits.map((h) => (
            <li key={h.video.id}>
              <a
                class="hit-card"
                href={href(h.frame_ms !== null ? videoAt(h.video.id, h.frame_ms) : videoAt(h.video.id, 0))}
                data-testid="search-hit"
                data-video={h.video.id}
                title={h.video.path}
              >
                <div class="hit-thumb">
                  <Poster
                    id={h.video.id}
                    alt=""
                    src={h.frame_index !== null ? urls.frame(h.video.id, h.frame_index) : undefined}
                  />
                  {h.frame_ms !== null ? <span class="hit-time">{fmtTime(h.frame_ms)}</span> : null}
                </div>
                <div class="hit-name">{h.video.name}</div>
                <div class="hit-tags">
                  {h.matched.map((m) => (
                    <span class="badge" key={m}>
                      {m}
                    </span>
                  ))}
                </div>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ClipFinder() {
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [result, setResult] = useState<{ name: string; r: FindResult } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const dropped = useStore((s) => s.droppedClip);

  const find = async (file: File) => {
    setBusy(file.name);
    setError(null);
    setResult(null);
    try {
      setResult({ name: file.name, r: await api.findClip(file) });
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  // A clip dropped elsewhere on the window.
  useEffect(() => {
    if (!dropped) return;
    setState({ droppedClip: null });
    void find(dropped);
  }, [dropped]);

  return (
    <section class="find-section" aria-label="Find a clip">
      <h2>Where does a clip come from?</h2>
      <div
        class={`clip-drop${over ? ' over' : ''}`}
        data-testid="clip-drop"
        onDragOver={(e) => {
          if (e.dataTransfer?.types.includes('Files')) {
            e.preventDefault();
            setOver(true);
          }
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          e.stopPropagation();
          setOver(false);
          const f = e.dataTransfer?.files?.[0];
          if (f) void find(f);
        }}
      >
        <Icon name="film" size={26} />
        <p>
          Drop a video clip here, or{' '}
          <button type="button" class="link-button" onClick={() => input.current?.click()} disabled={!!busy}>
            choose a file
          </button>
          .
        </p>
        <input
          ref={input}
          type="file"
          accept="video/*,.mkv,.avi,.webm,.mov,.mp4,.gif"
          hidden
          data-testid="clip-input"
          onChange={(e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            if (f) void find(f);
            (e.currentTarget as HTMLInputElement).value = '';
          }}
        />
      </div>
      {busy ? (
        <div class="empty-state small" data-testid="clip-busy">
          <span class="spinner" /> Looking for {busy}…
        </div>
      ) : null}
      {error ? (
        <div class="inline-error" role="alert">
          Could not search for the clip: {error}
        </div>
      ) : null}
      {result ? <ClipResults name={result.name} r={result.r} /> : null}
    </section>
  );
}

function ClipResults({ name, r }: { name: string; r: FindResult }) {
  const missing = r.videos - r.indexed;
  return (
    <div data-testid="clip-results">
      <p class="muted">
        {baseName(name)} ({fmtDuration(r.clip_s * 1000)}):{' '}
        {r.matches.length ? `found in ${plural(r.matches.length, 'video')}.` : 'not found in the library.'}
        {missing > 0 ? ` ${plural(missing, 'video')} not indexed yet could not be searched.` : ''}
      </p>
      <ul class="match-list">
        {r.matches.map((m) => (
          <li key={m.video.id} class="match-row" data-testid="clip-match" data-video={m.video.id}>
            <div class="match-thumb">
              <Poster id={m.video.id} alt="" />
            </div>
            <div class="match-text">
              <div class="match-name" title={m.video.path}>
                {m.video.name}
              </div>
              <div class="muted">
                starts at <strong data-testid="clip-offset">{fmtTime(m.offset_s * 1000)}</strong> ·{' '}
                {fmtDuration(m.matched_s * 1000)} matched ({Math.round(m.coverage * 100)} % of the clip) · similarity{' '}
                {m.similarity.toFixed(2)}
              </div>
            </div>
            <a class="btn" href={href(videoAt(m.video.id, m.offset_s * 1000))} data-testid="clip-play">
              Play from {fmtTime(m.offset_s * 1000)}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}
