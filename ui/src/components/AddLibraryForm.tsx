// Choose the folders to add: the native picker in the desktop app
// (`pick_folders` command), text fields in a browser.

import { useState } from 'preact/hooks';
import { errorMessage, startLibrary, useStore } from '../store';
import { Icon } from './Icon';

interface TauriInternals {
  invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;
}

function tauri(): TauriInternals | null {
  const t = (window as unknown as { __TAURI_INTERNALS__?: TauriInternals }).__TAURI_INTERNALS__;
  return t && typeof t.invoke === 'function' ? t : null;
}

export function AddLibraryForm({ onStarted, autoFocus = false }: { onStarted?: () => void; autoFocus?: boolean }) {
  const native = tauri();
  const running = useStore((s) => s.job?.state === 'running');
  const [paths, setPaths] = useState<string[]>(native ? [] : ['']);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const chosen = paths.map((p) => p.trim()).filter(Boolean);

  const pick = async () => {
    if (!native) return;
    setError(null);
    try {
      const r = await native.invoke('pick_folders');
      if (Array.isArray(r)) {
        const add = r.filter((x): x is string => typeof x === 'string' && x.length > 0);
        setPaths((prev) => Array.from(new Set([...prev, ...add])));
      }
    } catch (e) {
      setError(`Could not open the folder picker: ${errorMessage(e)}`);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!chosen.length) {
      setError('Give at least one folder.');
      return;
    }
    setError(null);
    setBusy(true);
    const problem = await startLibrary(chosen);
    setBusy(false);
    if (problem) setError(problem);
    else {
      setPaths(native ? [] : ['']);
      onStarted?.();
    }
  };

  return (
    <form class="add-form" onSubmit={submit} data-testid="add-library-form">
      {native ? (
        <div class="picked">
          {paths.length === 0 ? <p class="muted">No folder chosen yet.</p> : null}
          {paths.map((p, i) => (
            <div class="picked-row" key={p}>
              <Icon name="folder" />
              <span class="path">{p}</span>
              <button
                type="button"
                class="btn-icon btn-small"
                aria-label={`Remove ${p}`}
                onClick={() => setPaths(paths.filter((_, j) => j !== i))}
              >
                <Icon name="close" size={14} />
              </button>
            </div>
          ))}
          <button type="button" class="btn" onClick={() => void pick()} data-testid="pick-folders">
            <Icon name="folderPlus" /> Choose folders…
          </button>
        </div>
      ) : (
        <div class="path-fields">
          {paths.map((p, i) => (
            <div class="path-row" key={i}>
              <label class="sr-only" for={`lib-path-${i}`}>
                Folder {i + 1}
              </label>
              <span class="path-icon" aria-hidden="true">
                <Icon name="folder" />
              </span>
              <input
                id={`lib-path-${i}`}
                class="input"
                type="text"
                spellcheck={false}
                autoComplete="off"
                placeholder={i === 0 ? '/home/me/Videos' : 'Another folder'}
                value={p}
                autoFocus={autoFocus && i === 0}
                data-testid={i === 0 ? 'library-path' : `library-path-${i}`}
                onInput={(e) => {
                  const v = (e.target as HTMLInputElement).value;
                  setPaths(paths.map((x, j) => (j === i ? v : x)));
                }}
              />
              {paths.length > 1 ? (
                <button
                  type="button"
                  class="btn-icon"
                  aria-label={`Remove folder ${i + 1}`}
                  onClick={() => setPaths(paths.filter((_, j) => j !== i))}
                >
                  <Icon name="close" size={16} />
                </button>
              ) : null}
            </div>
          ))}
          <button type="button" class="btn btn-ghost btn-small add-another" onClick={() => setPaths([...paths, ''])}>
            <Icon name="plus" size={14} /> Another folder
          </button>
        </div>
      )}
      {error ? (
        <p class="form-error" role="alert" data-testid="add-library-error">
          {error}
        </p>
      ) : null}
      <div class="add-actions">
        <button
          type="submit"
          class="btn btn-primary"
          disabled={busy || running || (native !== null && chosen.length === 0)}
          data-testid="library-submit"
        >
          {busy ? <span class="spinner" aria-hidden="true" /> : <Icon name="plus" />}
          {chosen.length > 1 ? `Add ${chosen.length} folders` : 'Add to library'}
        </button>
        {running ? <span class="muted">A job is running; wait for it to finish.</span> : null}
      </div>
      <p class="hint">
        Sub-folders are included. Reelmap only reads your files: nothing on disk changes until you choose
        “Apply folders”.
      </p>
    </form>
  );
}
