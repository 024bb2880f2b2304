// The modal dialogs: add folders, re-cluster, merge, name prompt, apply folders.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type ApplyMode, type ApplyReport, type Plan } from '../api';
import { plural, relativeTo } from '../format';
import {
  closeDialog,
  errorMessage,
  mergeClusters,
  refresh,
  showError,
  startRecluster,
  toast,
  useStore,
  type Dialog,
} from '../store';
import { AddLibraryForm } from './AddLibraryForm';
import { Icon } from './Icon';
import { Modal } from './Modal';

export function Dialogs() {
  const dialog = useStore((s) => s.dialog);
  if (!dialog) return null;
  switch (dialog.type) {
    case 'add':
      return (
        <Modal title="Add folders to the library" onClose={closeDialog} testid="add-dialog">
          <AddLibraryForm onStarted={closeDialog} autoFocus />
        </Modal>
      );
    case 'recluster':
      return <ReclusterDialog />;
    case 'merge':
      return <MergeDialog clusterId={dialog.clusterId} />;
    case 'prompt':
      return <PromptDialog dialog={dialog} />;
    case 'apply':
      return <ApplyDialog />;
  }
}

function ReclusterDialog() {
  const clusters = useStore((s) => s.clusters);
  const running = useStore((s) => s.job?.state === 'running');
  const [auto, setAuto] = useState(true);
  const [k, setK] = useState(() => Math.max(2, clusters.filter((c) => c.kind === 'normal').length || 8));
  const [busy, setBusy] = useState(false);
  const [adapt, setAdapt] = useState(false);
  const [scan, setScan] = useState(false);
  const valid = auto || (Number.isInteger(k) && k >= 2 && k <= 500);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!valid) return;
    setBusy(true);
    const ok = await startRecluster(auto ? null : k, scan ? 'scan' : adapt ? 'adapt' : 'mean', adapt);
    setBusy(false);
    if (ok) closeDialog();
  };
  return (
    <Modal
      title="Re-cluster the library"
      onClose={closeDialog}
      size="small"
      testid="recluster-dialog"
      footer={
        <>
          <button type="button" class="btn btn-ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button
            type="submit"
            form="recluster-form"
            class="btn btn-primary"
            disabled={!valid || busy || running}
            data-testid="recluster-start"
          >
            <Icon name="shuffle" /> Re-cluster
          </button>
        </>
      }
    >
      <form id="recluster-form" onSubmit={submit} class="stack">
        <label class="choice">
          <input type="radio" name="k" checked={auto} onChange={() => setAuto(true)} />
          <span>
            <strong>Automatic</strong>
            <span class="muted">Reelmap picks the number of clusters that separates the videos best.</span>
          </span>
        </label>
        <label class="choice">
          <input type="radio" name="k" checked={!auto} onChange={() => setAuto(false)} data-testid="recluster-fixed" />
          <span>
            <strong>A fixed number</strong>
            <span class="choice-row">
              <input
                type="number"
                class="input input-narrow"
                min={2}
                max={500}
                value={k}
                aria-label="Number of clusters"
                data-testid="recluster-k"
                onFocus={() => setAuto(false)}
                onInput={(e) => setK(Number((e.target as HTMLInputElement).value))}
              />
              <span class="muted">clusters</span>
            </span>
          </span>
        </label>
        <label class="choice">
          <input
            type="checkbox"
            checked={adapt}
            onChange={(e) => setAdapt((e.target as HTMLInputElement).checked)}
            data-testid="recluster-adapt"
          />
          <span>
            <strong>Adapt to my library</strong>
            <span class="muted">
              Learn from your own videos first (a few seconds to a minute; libraries under 40 videos are too small
              and keep the plain comparison).
            </span>
          </span>
        </label>
        <label class="choice">
          <input
            type="checkbox"
            checked={scan}
            onChange={(e) => setScan((e.target as HTMLInputElement).checked)}
            data-testid="recluster-scan"
          />
          <span>
            <strong>Refine with neighbours (SCAN)</strong>
            <span class="muted">Videos follow the cluster of the videos most like them.</span>
          </span>
        </label>
        <p class="hint">
          <Icon name="info" size={14} /> Videos you placed yourself and names you gave are kept.
        </p>
        {running ? <p class="form-error">A job is running; wait for it to finish.</p> : null}
      </form>
    </Modal>
  );
}

function MergeDialog({ clusterId }: { clusterId: number }) {
  const clusters = useStore((s) => s.clusters);
  const from = clusters.find((c) => c.id === clusterId);
  const others = clusters.filter((c) => c.id !== clusterId);
  const [into, setInto] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  if (!from) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (into === null) return;
    setBusy(true);
    const r = await mergeClusters(from.id, into);
    setBusy(false);
    if (r) closeDialog();
  };
  return (
    <Modal
      title={`Merge “${from.name}” into…`}
      onClose={closeDialog}
      size="small"
      testid="merge-dialog"
      footer={
        <>
          <button type="button" class="btn btn-ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" form="merge-form" class="btn btn-primary" disabled={into === null || busy} data-testid="merge-confirm">
            <Icon name="merge" /> Merge
          </button>
        </>
      }
    >
      <form id="merge-form" onSubmit={submit}>
        <p class="muted">
          The {plural(from.count, 'video')} of “{from.name}” join the cluster you choose; “{from.name}” goes away. You can undo
          this.
        </p>
        <div class="radio-list" role="radiogroup" aria-label="Target cluster">
          {others.map((c) => (
            <label key={c.id} class="radio-row">
              <input type="radio" name="into" checked={into === c.id} onChange={() => setInto(c.id)} />
              <span class="radio-name">{c.name}</span>
              <span class="muted">{plural(c.count, 'video')}</span>
            </label>
          ))}
        </div>
      </form>
    </Modal>
  );
}

function PromptDialog({ dialog }: { dialog: Extract<Dialog, { type: 'prompt' }> }) {
  const [value, setValue] = useState(dialog.initial);
  const clusters = useStore((s) => s.clusters);
  const taken = clusters.some((c) => c.name.toLowerCase() === value.trim().toLowerCase());
  return (
    <Modal
      title={dialog.title}
      onClose={closeDialog}
      size="small"
      testid="prompt-dialog"
      footer={
        <>
          <button type="button" class="btn btn-ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button
            type="submit"
            form="prompt-form"
            class="btn btn-primary"
            disabled={!value.trim() || taken}
            data-testid="prompt-confirm"
          >
            {dialog.confirm}
          </button>
        </>
      }
    >
      <form
        id="prompt-form"
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const v = value.trim();
          if (v && !taken) dialog.resolve(v);
        }}
      >
        <label class="field">
          <span>{dialog.label}</span>
          <input
            class="input"
            value={value}
            autoFocus
            maxLength={120}
            data-testid="prompt-input"
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        {taken ? <p class="form-error">A cluster with this name already exists.</p> : null}
      </form>
    </Modal>
  );
}

const MODES: { mode: ApplyMode; title: string; text: string }[] = [
  { mode: 'move', title: 'Move', text: 'Files move into the new folders. Undo puts them back.' },
  { mode: 'link', title: 'Link', text: 'Folders of links to the files; the files stay where they are.' },
  { mode: 'copy', title: 'Copy', text: 'Copies in the new folders; the originals stay. Needs disk space.' },
];

const MAX_ROWS_PER_FOLDER = 200;

function ApplyDialog() {
  const canUndo = useStore((s) => s.status?.library.can_undo_apply ?? false);
  const running = useStore((s) => s.job?.state === 'running');
  const [mode, setMode] = useState<ApplyMode>('move');
  const [target, setTarget] = useState('');
  const [plans, setPlans] = useState<Plan[] | null>(null);
  const [planError, setPlanError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ApplyReport[] | null>(null);
  const req = useRef(0);

  useEffect(() => {
    const id = ++req.current;
    setLoading(true);
    const t = window.setTimeout(
      () => {
        api
          .applyPlan(target.trim())
          .then((p) => {
            if (id !== req.current) return;
            setPlans(p);
            setPlanError(null);
          })
          .catch((e) => id === req.current && (setPlanError(errorMessage(e)), setPlans(null)))
          .finally(() => id === req.current && setLoading(false));
      },
      target ? 400 : 0,
    );
    return () => window.clearTimeout(t);
  }, [target]);

  const totals = useMemo(() => {
    let items = 0;
    let unchanged = 0;
    const folders = new Set<string>();
    for (const p of plans ?? []) {
      items += p.items.length;
      unchanged += p.unchanged;
      p.items.forEach((i) => folders.add(`${p.base}\u0000${i.folder}`));
    }
    return { items, unchanged, folders: folders.size };
  }, [plans]);

  const apply = async () => {
    setBusy(true);
    try {
      const r = await api.apply(mode, target.trim());
      setResult(r);
      await refresh();
    } catch (e) {
      showError('Could not apply the folders', e);
    } finally {
      setBusy(false);
    }
  };

  const undoApply = async () => {
    setBusy(true);
    try {
      const r = await api.applyUndo();
      await refresh();
      if (!r) toast('info', 'There is nothing to undo.');
      else
        toast(
          r.failed.length ? 'error' : 'success',
          `Restored ${plural(r.files_restored, 'file')}${r.failed.length ? `; ${r.failed.length} could not be restored` : ''}.`,
        );
      setResult(null);
      // The plan changes after an undo.
      const p = await api.applyPlan(target.trim());
      setPlans(p);
    } catch (e) {
      showError('Could not undo the last apply', e);
    } finally {
      setBusy(false);
    }
  };

  const footer = result ? (
    <>
      <button type="button" class="btn" disabled={busy || !canUndo} onClick={() => void undoApply()} data-testid="apply-undo">
        <Icon name="undo" /> Undo this apply
      </button>
      <button type="button" class="btn btn-primary" onClick={closeDialog} data-testid="apply-close">
        Done
      </button>
    </>
  ) : (
    <>
      <button
        type="button"
        class="btn"
        disabled={busy || !canUndo}
        onClick={() => void undoApply()}
        data-testid="apply-undo"
        title={canUndo ? 'Put back the files of the last apply' : 'Nothing applied yet'}
      >
        <Icon name="undo" /> Undo last apply
      </button>
      <span class="spacer" />
      <button type="button" class="btn btn-ghost" onClick={closeDialog}>
        Cancel
      </button>
      <button
        type="button"
        class="btn btn-primary"
        disabled={busy || loading || running || !plans || totals.items === 0}
        onClick={() => void apply()}
        data-testid="apply-confirm"
      >
        {busy ? <span class="spinner" /> : <Icon name="apply" />}
        {MODES.find((m) => m.mode === mode)!.title} {plural(totals.items, 'file')}
      </button>
    </>
  );

  return (
    <Modal title="Apply folders" onClose={closeDialog} size="large" testid="apply-dialog" footer={footer}>
      {result ? (
        <ApplyResult result={result} />
      ) : (
        <div class="apply-layout">
          <div class="apply-options">
            <fieldset class="fieldset">
              <legend>How</legend>
              {MODES.map((m) => (
                <label key={m.mode} class={`choice${mode === m.mode ? ' checked' : ''}`}>
                  <input
                    type="radio"
                    name="mode"
                    value={m.mode}
                    checked={mode === m.mode}
                    onChange={() => setMode(m.mode)}
                    data-testid={`apply-mode-${m.mode}`}
                  />
                  <span>
                    <strong>{m.title}</strong>
                    <span class="muted">{m.text}</span>
                  </span>
                </label>
              ))}
            </fieldset>
            <label class="field">
              <span>Target folder (optional)</span>
              <input
                class="input"
                placeholder="Inside each library folder"
                value={target}
                spellcheck={false}
                data-testid="apply-target"
                onInput={(e) => setTarget((e.target as HTMLInputElement).value)}
              />
              <span class="hint">Leave empty to create the cluster folders inside each library folder.</span>
            </label>
            {running ? <p class="form-error">A job is running; apply when it has finished.</p> : null}
          </div>
          <div class="apply-preview" data-testid="apply-preview" aria-busy={loading}>
            <div class="preview-head">
              <strong>Preview</strong>
              {plans ? (
                <span class="muted" data-testid="apply-summary">
                  {plural(totals.items, 'file')} into {plural(totals.folders, 'folder')}
                  {totals.unchanged ? `, ${totals.unchanged} already in place` : ''}
                </span>
              ) : null}
              {loading ? <span class="spinner" aria-label="Loading" /> : null}
            </div>
            {planError ? (
              <div class="inline-error" role="alert">
                {planError}
              </div>
            ) : plans && totals.items === 0 ? (
              <div class="empty-state small">
                <Icon name="check" size={24} />
                <p>Every file is already in its folder.</p>
              </div>
            ) : plans ? (
              <div class="preview-list">
                {plans.map((p) => (
                  <PlanGroups key={p.base} plan={p} />
                ))}
              </div>
            ) : null}
          </div>
        </div>
      )}
    </Modal>
  );
}

function PlanGroups({ plan }: { plan: Plan }) {
  const groups = useMemo(() => {
    const m = new Map<string, typeof plan.items>();
    for (const it of plan.items) {
      let g = m.get(it.folder);
      if (!g) m.set(it.folder, (g = []));
      g.push(it);
    }
    return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [plan]);
  if (!plan.items.length) return null;
  return (
    <div class="plan-base">
      <div class="plan-base-path" title={plan.base}>
        <Icon name="folder" size={15} /> {plan.base}
      </div>
      {groups.map(([folder, items]) => (
        <details key={folder} class="plan-folder" open={groups.length <= 6} data-testid="plan-folder">
          <summary>
            <Icon name="folder" size={15} />
            <strong>{folder}/</strong>
            <span class="muted">{plural(items.length, 'file')}</span>
          </summary>
          <ul>
            {items.slice(0, MAX_ROWS_PER_FOLDER).map((it) => (
              <li key={it.video_id} data-testid="plan-item">
                <span class="from" title={it.from}>
                  {relativeTo(it.from, plan.base)}
                </span>
                <span class="arrow" aria-label="to">
                  →
                </span>
                <span class="to" title={it.to}>
                  {relativeTo(it.to, plan.base)}
                </span>
                {it.companions.length ? (
                  <span class="companions muted">
                    + {it.companions.map(([f]) => relativeTo(f, plan.base)).join(', ')}
                  </span>
                ) : null}
              </li>
            ))}
            {items.length > MAX_ROWS_PER_FOLDER ? (
              <li class="muted">… and {plural(items.length - MAX_ROWS_PER_FOLDER, 'more file')}</li>
            ) : null}
          </ul>
        </details>
      ))}
    </div>
  );
}

function ApplyResult({ result }: { result: ApplyReport[] }) {
  const done = result.reduce((a, r) => a + r.files_done, 0);
  const folders = result.reduce((a, r) => a + r.folders_created, 0);
  const failed = result.flatMap((r) => r.failed);
  return (
    <div class="apply-result" data-testid="apply-result">
      <div class={`result-banner${failed.length ? ' warn' : ''}`}>
        <Icon name={failed.length ? 'alert' : 'check'} size={22} />
        <div>
          <strong>
            {plural(done, 'file')} done, {plural(folders, 'folder')} created
          </strong>
          <div class="muted">
            {failed.length ? `${plural(failed.length, 'file')} could not be handled.` : 'Everything went through.'}
          </div>
        </div>
      </div>
      {failed.length ? (
        <ul class="result-failed">
          {failed.map(([p, reason], i) => (
            <li key={i}>
              <span class="path">{p}</span>
              <span class="reason">{reason}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
