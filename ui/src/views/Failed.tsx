// Files that could not be used, with the reason.

import { useEffect, useState } from 'preact/hooks';
import { api, type Video } from '../api';
import { Icon } from '../components/Icon';
import { fmtSize, plural } from '../format';
import { href } from '../router';
import { errorMessage, useStore } from '../store';

const STAGES: Record<string, string> = {
  scan: 'Scanning',
  probe: 'Reading the file',
  decode: 'Decoding frames',
  embed: 'Extracting features',
  index: 'Indexing frames',
};

export function Failed() {
  const version = useStore((s) => s.dataVersion);
  const [rows, setRows] = useState<Video[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .failed()
      .then((r) => live && (setRows(r), setError(null)))
      .catch((e) => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [version]);
  return (
    <div class="page" data-testid="failed-view">
      <div class="page-head">
        <div>
          <a class="back-link" href={href({ name: 'home' })} data-back>
            <Icon name="back" size={16} /> Clusters
          </a>
          <h1>Failed files</h1>
          <p class="muted">
            {rows ? `${plural(rows.length, 'file')} could not be used. ` : ''}They stay where they are and are tried again
            when they change.
          </p>
        </div>
      </div>
      {error ? (
        <div class="inline-error" role="alert">
          Could not load the failed files: {error}
        </div>
      ) : rows === null ? (
        <div class="empty-state">
          <span class="spinner" /> Loading…
        </div>
      ) : rows.length === 0 ? (
        <div class="empty-state">
          <Icon name="check" size={28} />
          <p>Every file could be used.</p>
        </div>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="failed-table">
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Problem</th>
                <th scope="col">Step</th>
                <th scope="col" class="num">
                  Size
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((v) => (
                <tr key={v.id} data-testid="failed-row">
                  <td>
                    <div class="cell-name">{v.name}</div>
                    <div class="cell-path">{v.path}</div>
                  </td>
                  <td class="cell-error">{v.error ?? 'Unknown problem'}</td>
                  <td>{v.error_stage ? (STAGES[v.error_stage] ?? v.error_stage) : '–'}</td>
                  <td class="num">{fmtSize(v.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
