// Progress of the running (or last) job: bar, stage, counts, current file, ETA,
// errors (expandable) and Cancel.

import type { JobStatus } from '../api';
import { fmtEta, plural } from '../format';
import { cancelJob, dismissJob, jobTitle } from '../store';
import { Icon } from './Icon';

const STAGES: Record<string, string> = {
  starting: 'Starting',
  scan: 'Scanning folders',
  embed: 'Extracting frames and features',
  cluster: 'Grouping similar videos',
  index: 'Indexing frames for finding duplicates and clips',
  'map of videos': 'Laying out the map of videos',
  'map of frames': 'Laying out the map of frames',
  finished: 'Finished',
};

export function stageLabel(stage: string): string {
  return STAGES[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
}

export function JobPanel({ job, large = false }: { job: JobStatus; large?: boolean }) {
  const running = job.state === 'running';
  const known = job.total > 0;
  const frac = known ? Math.min(1, job.done / job.total) : job.state === 'done' ? 1 : 0;
  const pct = Math.round(frac * 100);
  const counts = known
    ? `${job.done.toLocaleString()} of ${job.total.toLocaleString()}`
    : job.stage === 'scan' && job.done > 0
      ? `${plural(job.done, 'file')} found`
      : '';
  const eta = running && job.eta_s !== null ? fmtEta(job.eta_s) : '';
  const stateText =
    job.state === 'done' ? 'Done' : job.state === 'failed' ? 'Failed' : job.state === 'cancelled' ? 'Cancelled' : '';
  return (
    <section
      class={`job-panel job-${job.state}${large ? ' job-large' : ''}`}
      data-testid="job-panel"
      data-state={job.state}
      aria-label="Job progress"
    >
      <div class="job-head">
        <div class="job-title">
          {running ? <span class="spinner" aria-hidden="true" /> : <Icon name={job.state === 'done' ? 'check' : 'alert'} />}
          <strong>{jobTitle(job)}</strong>
          <span class="job-stage" data-testid="job-stage">
            {running ? stageLabel(job.stage) : stateText}
          </span>
        </div>
        <div class="job-actions">
          {running ? (
            <button type="button" class="btn btn-small" data-testid="job-cancel" onClick={() => void cancelJob()}>
              <Icon name="stop" size={14} /> Cancel
            </button>
          ) : (
            <button
              type="button"
              class="btn-icon btn-small"
              aria-label="Dismiss"
              data-testid="job-dismiss"
              onClick={() => dismissJob(job.id)}
            >
              <Icon name="close" size={16} />
            </button>
          )}
        </div>
      </div>
      <div
        class={`progress${running && !known ? ' progress-indeterminate' : ''}`}
        role="progressbar"
        aria-label={running ? stageLabel(job.stage) : stateText}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={running && !known ? undefined : pct}
        data-testid="job-progress"
      >
        {/* Keyed by mode so the bar does not animate from the indeterminate state. */}
        <div
          key={running && !known ? 'indeterminate' : `stage-${job.stage}`}
          class="progress-bar"
          style={{ width: running && !known ? undefined : `${pct}%` }}
        />
      </div>
      <div class="job-meta">
        {counts ? <span data-testid="job-counts">{counts}</span> : null}
        {known && running ? <span>{pct}%</span> : null}
        {eta ? <span>about {eta} left</span> : null}
        {job.elapsed_s > 0 ? <span class="muted">{fmtEta(job.elapsed_s)} elapsed</span> : null}
      </div>
      {running && job.current ? (
        <div class="job-current" title={job.current} data-testid="job-current">
          {shortPath(job.current)}
        </div>
      ) : null}
      {!running && job.message ? <div class="job-message">{job.message}</div> : null}
      {job.errors.length > 0 ? (
        <details class="job-errors" data-testid="job-errors">
          <summary>{plural(job.errors.length, 'file')} could not be used</summary>
          <ul>
            {job.errors.map(([path, reason], i) => (
              <li key={i}>
                <span class="path">{path}</span>
                <span class="reason">{reason}</span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}

/** The last two parts of a path, enough to recognise a file. */
function shortPath(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : p;
}
