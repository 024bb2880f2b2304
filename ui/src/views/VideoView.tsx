// One video: player, feature-image strip with a playback cursor, change points,
// what the current frame shows, metadata and the nearest videos.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, urls, type Frame, type VideoDetail } from '../api';
import { Icon } from '../components/Icon';
import { Poster } from '../components/Poster';
import { clusterColours, fmtDuration, fmtSize, fmtTime } from '../format';
import { href, navigate, videoRoute } from '../router';
import { assignToNewFolder, assignVideos, errorMessage, useStore } from '../store';

/** Index of the sampled frame shown at time `ms` (nearest sample). */
export function frameAt(frames: Frame[], ms: number): number {
  let cur = 0;
  for (let i = 1; i < frames.length; i++) {
    if (ms >= (frames[i - 1]!.ts_ms + frames[i]!.ts_ms) / 2) cur = i;
    else break;
  }
  return cur;
}

export function VideoView({ id, from, frame, t }: { id: number; from: number | null; frame: number | null; t: number | null }) {
  const version = useStore((s) => s.dataVersion);
  const clusters = useStore((s) => s.clusters);
  const colours = useMemo(() => clusterColours(clusters), [clusters]);
  const [v, setV] = useState<VideoDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [mediaError, setMediaError] = useState<string | null>(null);
  const player = useRef<HTMLVideoElement>(null);
  const initialSeek = useRef<number | null>(null);

  useEffect(() => {
    let live = true;
    api
      .video(id)
      .then((d) => {
        if (!live) return;
        setV(d);
        setError(null);
      })
      .catch((e) => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [id, version]);

  // Reset per video.
  useEffect(() => {
    setTime(0);
    setDuration(0);
    setMediaError(null);
    setPlaying(false);
  }, [id]);

  // Where to start: a frame (from the map) or a time.
  useEffect(() => {
    if (!v || v.id !== id) return;
    const target = frame !== null ? v.frames[frame]?.ts_ms : t;
    if (target === undefined || target === null) return;
    initialSeek.current = target;
    const el = player.current;
    if (el && el.readyState >= 1) {
      el.currentTime = target / 1000;
      setTime(target);
      initialSeek.current = null;
    }
  }, [v?.id, id, frame, t]);

  // Follow playback smoothly while playing.
  useEffect(() => {
    if (!playing) return;
    let raf = 0;
    const tick = () => {
      const el = player.current;
      if (el) setTime(el.currentTime * 1000);
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [playing]);

  useEffect(() => {
    if (v && v.id === id) document.title = `${v.name} · Reelmap`;
  }, [v?.name, v?.id, id]);

  // Space or K plays and pauses when the focus is not on a control.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== ' ' && e.key !== 'k') return;
      const t = e.target as HTMLElement | null;
      if (t?.closest('input, textarea, select, button, a, video, [role="slider"], dialog')) return;
      const el = player.current;
      if (!el) return;
      e.preventDefault();
      if (el.paused) void el.play().catch(() => undefined);
      else el.pause();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const seek = (ms: number) => {
    const el = player.current;
    if (el) el.currentTime = ms / 1000;
    setTime(ms);
  };

  if (error && !v) {
    return (
      <div class="page">
        <a class="back-link" href={href(from !== null ? { name: 'cluster', id: from } : { name: 'home' })}>
          <Icon name="back" size={16} /> Back
        </a>
        <div class="inline-error" role="alert">
          Could not load the video: {error}
        </div>
      </div>
    );
  }
  if (!v || v.id !== id) {
    return (
      <div class="page">
        <div class="empty-state">
          <span class="spinner" /> Loading…
        </div>
      </div>
    );
  }

  const frames = v.frames;
  const n = frames.length;
  const cur = n ? frameAt(frames, time) : 0;
  const curFrame = frames[cur];
  const durMs = duration > 0 ? duration * 1000 : (v.duration_ms ?? 0);
  const backTo = from ?? v.cluster_id;
  const backName = clusters.find((c) => c.id === backTo)?.name ?? v.cluster ?? 'Clusters';
  const changeSet = new Set(v.change_points.map((c) => c.idx));

  const top = mergeClasses(curFrame?.top ?? []);

  return (
    <div class="page video-page" data-testid="video-view" data-video-id={v.id}>
      <div class="video-head">
        <div class="video-title">
          <a
            class="back-link"
            href={href(backTo !== null ? { name: 'cluster', id: backTo } : { name: 'home' })}
            data-testid="back-link"
            data-back
          >
            <Icon name="back" size={16} /> {backName}
          </a>
          <h1 title={v.path}>{v.name}</h1>
        </div>
        <div class="page-actions">
          {v.status === 'ok' ? (
            <label class="inline-field">
              <span>Move to</span>
              <select
                class="select"
                value=""
                data-testid="video-move-to"
                onChange={(e) => {
                  const sel = e.target as HTMLSelectElement;
                  const val = sel.value;
                  sel.value = '';
                  if (val === 'new') void assignToNewFolder([v.id]);
                  else if (val) void assignVideos([v.id], Number(val));
                }}
              >
                <option value="">Choose a cluster…</option>
                {clusters
                  .filter((c) => c.id !== v.cluster_id)
                  .map((c) => (
                    <option key={c.id} value={c.id}>
                      {c.name}
                    </option>
                  ))}
                <option value="new">New folder…</option>
              </select>
            </label>
          ) : null}
        </div>
      </div>

      <div class="video-layout">
        <div class="video-main">
          <div class="player-box">
            {mediaError ? (
              <div class="player-error" role="alert">
                <Icon name="alert" size={26} />
                <p>{mediaError}</p>
              </div>
            ) : null}
            <video
              ref={player}
              class="player"
              src={urls.media(v.id)}
              controls
              preload="metadata"
              playsInline
              poster={v.has_poster ? urls.poster(v.id) : undefined}
              data-testid="player"
              onLoadedMetadata={(e) => {
                const el = e.currentTarget as HTMLVideoElement;
                setDuration(Number.isFinite(el.duration) ? el.duration : 0);
                if (initialSeek.current !== null) {
                  el.currentTime = initialSeek.current / 1000;
                  setTime(initialSeek.current);
                  initialSeek.current = null;
                }
              }}
              onTimeUpdate={(e) => setTime((e.currentTarget as HTMLVideoElement).currentTime * 1000)}
              onSeeked={(e) => setTime((e.currentTarget as HTMLVideoElement).currentTime * 1000)}
              onPlay={() => setPlaying(true)}
              onPause={() => setPlaying(false)}
              onEnded={() => setPlaying(false)}
              onError={() =>
                setMediaError(
                  'This browser cannot play this file (its codec may not be supported here). The analysis below still applies.',
                )
              }
            />
          </div>

          {n > 0 ? (
            <Timeline
              frames={frames}
              changes={v.change_points.map((c) => c.ts_ms)}
              durMs={durMs}
              time={time}
              onSeek={seek}
            />
          ) : null}

          <div class="panels">
            <section class="panel" aria-labelledby="classes-h" data-testid="top-classes">
              <h2 id="classes-h">
                In this frame <span class="muted">{curFrame ? `at ${fmtTime(curFrame.ts_ms)}` : ''}</span>
              </h2>
              {top.length === 0 ? (
                <p class="muted">No classes for this video.</p>
              ) : (
                <ul class="class-list">
                  {top.map((c) => (
                    <li key={c.name} data-testid="top-class">
                      <span class="class-name">{c.name}</span>
                      <span class="class-bar" aria-hidden="true">
                        <span style={{ width: `${Math.max(2, c.p * 100)}%` }} />
                      </span>
                      <span class="class-p">{(c.p * 100).toFixed(c.p < 0.1 ? 1 : 0)}%</span>
                    </li>
                  ))}
                </ul>
              )}
            </section>
            <section class="panel" aria-labelledby="details-h">
              <h2 id="details-h">Details</h2>
              <dl class="meta-list" data-testid="video-meta">
                <dt>Cluster</dt>
                <dd>
                  {v.cluster_id !== null ? (
                    <a
                      href={href({ name: 'cluster', id: v.cluster_id })}
                      class="cluster-chip"
                      style={{ '--cluster-colour': colours.get(v.cluster_id) ?? '#888' }}
                      data-testid="video-cluster"
                    >
                      <span class="swatch" aria-hidden="true" />
                      {v.cluster ?? `#${v.cluster_id}`}
                    </a>
                  ) : (
                    '–'
                  )}
                  {v.assigned_by ? (
                    <span class="muted"> · {v.assigned_by === 'user' ? 'placed by you' : 'placed automatically'}</span>
                  ) : null}
                </dd>
                <dt>Duration</dt>
                <dd>{fmtDuration(v.duration_ms)}</dd>
                <dt>Resolution</dt>
                <dd>{v.width && v.height ? `${v.width} × ${v.height}` : '–'}</dd>
                <dt>Frame rate</dt>
                <dd>{v.fps ? `${Number(v.fps.toFixed(2))} fps` : '–'}</dd>
                <dt>Codec</dt>
                <dd>
                  {v.codec ?? '–'}
                  {v.container ? ` in ${v.container}` : ''}
                </dd>
                <dt>Size</dt>
                <dd>{fmtSize(v.size)}</dd>
                <dt>File</dt>
                <dd class="path">{v.path}</dd>
              </dl>
            </section>
          </div>
        </div>

        <aside class="video-side">
          {n > 0 ? (
            <FeatureStrip
              videoId={v.id}
              frames={frames}
              changeSet={changeSet}
              cur={cur}
              time={time}
              onSeek={seek}
              scores={v.change_points}
            />
          ) : (
            <section class="panel">
              <h2>Feature strip</h2>
              <p class="muted">This video has no sampled frames yet.</p>
            </section>
          )}
        </aside>
      </div>

      <section class="panel nearest" aria-labelledby="nearest-h">
        <h2 id="nearest-h">Similar videos</h2>
        {v.nearest.length === 0 ? (
          <p class="muted">No similar videos found.</p>
        ) : (
          <ul class="nearest-list" data-testid="nearest">
            {v.nearest.map((o) => (
              <li key={o.id}>
                <a
                  href={href(videoRoute(o.id, from))}
                  class="nearest-card"
                  data-testid="nearest-item"
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(videoRoute(o.id, from));
                  }}
                >
                  <span class="nearest-thumb">
                    <Poster id={o.id} alt="" />
                    {o.same_file ? (
                      <span class="nearest-sim same" data-testid="same-file" title={`A copy of this file: ${o.path}`}>
                        same file
                      </span>
                    ) : (
                      <span
                        class={`nearest-sim${o.similarity < 0.3 ? ' low' : ''}`}
                        title={`Cosine similarity ${o.similarity.toFixed(2)}`}
                      >
                        {o.similarity < 0.3 ? 'not alike' : `${Math.round(o.similarity * 100)}% alike`}
                      </span>
                    )}
                  </span>
                  <span class="nearest-name" title={o.name}>
                    {o.name}
                  </span>
                  <span class="nearest-cluster" style={{ '--cluster-colour': colours.get(o.cluster_id ?? -1) ?? '#888' }}>
                    <span class="swatch" aria-hidden="true" />
                    {o.cluster ?? '–'}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function mergeClasses(top: { name: string; p: number }[]): { name: string; p: number }[] {
  const m = new Map<string, number>();
  for (const c of top) m.set(c.name, (m.get(c.name) ?? 0) + c.p);
  return [...m.entries()]
    .map(([name, p]) => ({ name, p: Math.min(1, p) }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 5);
}

function Timeline(props: {
  frames: Frame[];
  changes: number[];
  durMs: number;
  time: number;
  onSeek: (ms: number) => void;
}) {
  const { frames, changes, durMs, time, onSeek } = props;
  const bar = useRef<HTMLDivElement>(null);
  if (durMs <= 0) return null;
  const pos = (ms: number) => `${Math.max(0, Math.min(100, (ms / durMs) * 100))}%`;
  const seekAt = (clientX: number) => {
    const r = bar.current?.getBoundingClientRect();
    if (!r || r.width <= 0) return;
    onSeek(Math.max(0, Math.min(1, (clientX - r.left) / r.width)) * durMs);
  };
  return (
    <div class="timeline-wrap">
      <div class="timeline-labels">
        <span>Scenes</span>
        <span class="muted">
          {fmtTime(time)} / {fmtTime(durMs)}
        </span>
      </div>
      <div
        ref={bar}
        class="timeline"
        role="slider"
        tabIndex={0}
        aria-label="Timeline with scene changes"
        aria-valuemin={0}
        aria-valuemax={Math.round(durMs / 1000)}
        aria-valuenow={Math.round(time / 1000)}
        aria-valuetext={fmtTime(time)}
        data-testid="timeline"
        onClick={(e) => seekAt(e.clientX)}
        onKeyDown={(e) => {
          const step = e.shiftKey ? 5000 : 1000;
          if (e.key === 'ArrowRight') onSeek(Math.min(durMs, time + step));
          else if (e.key === 'ArrowLeft') onSeek(Math.max(0, time - step));
          else return;
          e.preventDefault();
        }}
      >
        <div class="timeline-fill" style={{ width: pos(time) }} />
        {frames.map((f) => (
          <span key={f.idx} class="timeline-tick" style={{ left: pos(f.ts_ms) }} />
        ))}
        {changes.map((ms, i) => (
          <span
            key={i}
            class="timeline-change"
            style={{ left: pos(ms) }}
            title={`Keyframe at ${fmtTime(ms)}`}
            data-testid="timeline-change"
          />
        ))}
        <span class="timeline-head" style={{ left: pos(time) }} />
      </div>
    </div>
  );
}

function FeatureStrip(props: {
  videoId: number;
  frames: Frame[];
  changeSet: Set<number>;
  scores: { idx: number; score: number; ts_ms: number }[];
  cur: number;
  time: number;
  onSeek: (ms: number) => void;
}) {
  const { videoId, frames, changeSet, scores, cur, onSeek } = props;
  const n = frames.length;
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);
  const [hover, setHover] = useState<number | null>(null);
  const body = useRef<HTMLDivElement>(null);
  useEffect(() => {
    setLoaded(false);
    setFailed(false);
  }, [videoId]);
  const rowOf = (clientY: number) => {
    const r = body.current?.getBoundingClientRect();
    if (!r || r.height <= 0) return 0;
    return Math.max(0, Math.min(n - 1, Math.floor(((clientY - r.top) / r.height) * n)));
  };
  const pct = (i: number) => `${(i / n) * 100}%`;
  const scoreOf = new Map(scores.map((s) => [s.idx, s.score]));
  return (
    <section class="panel strip-panel" aria-labelledby="strip-h" data-testid="strip-panel">
      <div class="strip-headline">
        <h2 id="strip-h">Feature strip</h2>
        <span class="muted">one band per sampled frame, time runs down</span>
      </div>
      <div
        class="strip-body"
        ref={body}
        tabIndex={0}
        role="slider"
        aria-label="Sampled frames; arrows step through them"
        aria-valuemin={0}
        aria-valuemax={n - 1}
        aria-valuenow={cur}
        aria-valuetext={`Frame ${cur + 1} of ${n} at ${fmtTime(frames[cur]?.ts_ms ?? 0)}`}
        onKeyDown={(e) => {
          let next = cur;
          if (e.key === 'ArrowDown' || e.key === 'ArrowRight') next = cur + 1;
          else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') next = cur - 1;
          else if (e.key === 'Home') next = 0;
          else if (e.key === 'End') next = n - 1;
          else return;
          e.preventDefault();
          next = Math.max(0, Math.min(n - 1, next));
          onSeek(frames[next]!.ts_ms);
        }}
      >
        <div class="strip-thumbs">
          {frames.map((f) => (
            <button
              type="button"
              key={f.idx}
              tabIndex={-1}
              class={`strip-thumb${f.idx === cur ? ' current' : ''}`}
              style={{ top: pct(f.idx), height: `${100 / n}%` }}
              aria-label={`Frame ${f.idx + 1} at ${fmtTime(f.ts_ms)}`}
              onClick={() => onSeek(f.ts_ms)}
            >
              <img src={urls.frame(videoId, f.idx)} alt="" loading="lazy" draggable={false} />
            </button>
          ))}
        </div>
        <div class="strip-times" aria-hidden="true">
          {frames.map((f) => (
            <span key={f.idx} class={f.idx === cur ? 'current' : ''} style={{ top: pct(f.idx), height: `${100 / n}%` }}>
              {fmtTime(f.ts_ms)}
            </span>
          ))}
        </div>
        <div
          class="strip-image"
          onClick={(e) => onSeek(frames[rowOf(e.clientY)]!.ts_ms)}
          onMouseMove={(e) => setHover(rowOf(e.clientY))}
          onMouseLeave={() => setHover(null)}
          data-testid="strip"
        >
          {!loaded && !failed ? <div class="strip-loading" aria-hidden="true" /> : null}
          {failed ? (
            <div class="strip-failed">The strip could not be drawn.</div>
          ) : (
            <img
              src={urls.strip(videoId)}
              alt="Feature image: one row of features per sampled frame"
              data-testid="strip-img"
              draggable={false}
              onLoad={() => setLoaded(true)}
              onError={() => setFailed(true)}
            />
          )}
          {frames.map((f) =>
            changeSet.has(f.idx) ? (
              <span
                key={f.idx}
                class={`strip-change${f.idx === 0 ? ' first' : ''}`}
                style={{ top: pct(f.idx), height: `${100 / n}%` }}
                title={f.idx === 0 ? 'Start' : `Scene change at ${fmtTime(f.ts_ms)} (score ${(scoreOf.get(f.idx) ?? 0).toFixed(2)})`}
                data-testid="change-point"
              />
            ) : null,
          )}
          {hover !== null && hover !== cur ? (
            <div class="strip-hover" style={{ top: pct(hover), height: `${100 / n}%` }} aria-hidden="true" />
          ) : null}
          <div
            class="strip-cursor"
            style={{ top: pct(cur), height: `${100 / n}%` }}
            data-testid="strip-cursor"
            data-frame={cur}
            aria-hidden="true"
          />
        </div>
      </div>
      <div class="strip-legend">
        <span class="legend-keyframe" /> keyframe (scene change)
      </div>
    </section>
  );
}
