// End-to-end tests: a real Chromium (Debian's, via playwright-core) against a real
// `reelmap serve` started by e2e/run.sh on a fresh demo library. The tests run in
// order and share one page: the first one adds the library through the UI.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const URL_WITH_TOKEN = process.env.REELMAP_URL;
const LIBRARY = process.env.E2E_LIBRARY;
const TMP = process.env.E2E_TMP;
const ART = process.env.E2E_ARTIFACTS ?? 'test-artifacts/e2e';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!URL_WITH_TOKEN || !LIBRARY || !TMP) throw new Error('run through e2e/run.sh (REELMAP_URL, E2E_LIBRARY, E2E_TMP)');
const ORIGIN = new URL(URL_WITH_TOKEN).origin;

let browser;
let context;
let page;
const pageErrors = [];

async function shot(name) {
  fs.mkdirSync(ART, { recursive: true });
  await page.screenshot({ path: path.join(ART, `${name}.png`) });
}

async function api(p) {
  const r = await context.request.get(ORIGIN + p);
  assert.ok(r.ok(), `${p}: ${r.status()}`);
  return r.json();
}

/** The job started after job `before` (an id, -1 for none), once it has ended. */
async function jobAfter(before) {
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; ) {
    const s = await api('/api/status');
    if (s.job && s.job.id > before && s.job.state !== 'running') return s.job;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/** Which cluster each video (by file name) is in. */
async function videosByName() {
  const out = new Map();
  for (const c of await api('/api/clusters')) {
    const page = await api(`/api/clusters/${c.id}/videos?limit=2000`);
    for (const v of page.videos) out.set(v.name, { ...v, cluster: c });
  }
  return out;
}


/** Finds a drawn point on the map canvas by reading its pixels (CSS px, canvas-relative). */
async function findPoint(canvas) {
  return canvas.evaluate(async (c) => {
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const ctx = c.getContext('2d');
      const { width, height } = c;
      const data = ctx.getImageData(0, 0, width, height).data;
      const dpr = width / c.clientWidth;
      for (let y = 0; y < height; y += 2) {
        for (let x = 0; x < width; x += 2) {
          if (data[(y * width + x) * 4 + 3] > 200) {
            // Move to the middle of the dot.
            let x1 = x;
            while (x1 < width && data[(y * width + x1) * 4 + 3] > 200) x1++;
            return { x: (x + x1) / 2 / dpr, y: (y + 3) / dpr };
          }
        }
      }
      return null;
    });
}

async function goto(hash) {
  await page.goto(`${ORIGIN}/${hash}`);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
  context.setDefaultTimeout(20_000);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Opening the address with the token sets the cookie and redirects to /.
  const resp = await page.goto(URL_WITH_TOKEN);
  assert.ok(resp && resp.ok(), 'the UI loads');
  assert.equal(new URL(page.url()).search, '', 'the token is taken out of the address');
});

after(async () => {
  await browser?.close();
});

describe('Reelmap UI', () => {
  test('an empty catalogue shows the add-library screen', async () => {
    await page.getByTestId('welcome').waitFor();
    await page.getByTestId('library-path').waitFor();
    assert.equal(await page.getByTestId('cluster-card').count(), 0);
    // A path that is not a folder gives a clear error.
    await page.getByTestId('library-path').fill(path.join(TMP, 'no-such-folder'));
    await page.getByTestId('library-submit').click();
    const err = page.getByTestId('add-library-error');
    await err.waitFor();
    assert.match(await err.innerText(), /not a folder/);
    await shot('01-welcome');
  });

  test('adding the demo folder runs the job with a progress bar to the catalogue', async () => {
    // Record every stage the job panel shows, on this page and after the reload below
    // (kept in sessionStorage): the job is fast enough for a stage to last less than a
    // polling interval.
    const recordStages = () => {
      const record = () => {
        const el = document.querySelector('[data-testid="job-stage"]');
        const text = el && el.textContent;
        if (!text) return;
        const seen = JSON.parse(sessionStorage.getItem('reelmap-e2e-stages') || '[]');
        if (!seen.includes(text)) {
          seen.push(text);
          sessionStorage.setItem('reelmap-e2e-stages', JSON.stringify(seen));
        }
      };
      new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
    };
    await page.addInitScript(recordStages);
    await page.evaluate(recordStages);
    await page.getByTestId('library-path').fill(LIBRARY);
    await page.getByTestId('library-submit').click();
    const panel = page.locator('[data-testid="job-panel"][data-state="running"]');
    await panel.waitFor({ timeout: 10_000 });
    assert.ok(await page.getByTestId('job-progress').isVisible(), 'a progress bar is shown');
    assert.ok(await page.getByTestId('job-cancel').isVisible(), 'a Cancel button is shown');
    // Coming back (reload) shows the running job again, from /api/status and the events.
    await page.reload();
    await page.locator('[data-testid="job-panel"][data-state="running"]').waitFor({ timeout: 5_000 });
    // Watch the job: record the stages and the progress values it goes through.
    const stages = new Set();
    const values = new Set();
    let shotTaken = false;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const running = await page.locator('[data-testid="job-panel"][data-state="running"]').count();
      if (!running) break;
      const s = await page.getByTestId('job-stage').first().innerText().catch(() => '');
      const v = await page.getByTestId('job-progress').first().getAttribute('aria-valuenow').catch(() => null);
      if (s) stages.add(s);
      if (v !== null) values.add(Number(v));
      if (!shotTaken && s.startsWith('Extracting')) {
        await shot('02-progress');
        shotTaken = true;
      }
      await page.waitForTimeout(100);
    }
    await page.getByTestId('cluster-grid').waitFor({ timeout: 60_000 });
    for (const s of await page.evaluate(() => JSON.parse(sessionStorage.getItem('reelmap-e2e-stages') || '[]'))) {
      stages.add(s);
    }
    console.log(`# job stages seen: ${[...stages].join(' | ')}`);
    const cards = await page.getByTestId('cluster-card').count();
    assert.ok(cards >= 3, `at least 3 clusters (got ${cards})`);
    assert.ok(stages.size >= 2, `the stage changed while running: ${[...stages].join(', ')}`);
    assert.ok([...stages].some((s) => s.startsWith('Extracting')), `an extraction stage was shown: ${[...stages].join(', ')}`);
    // The finished job stays visible with its problem file listed.
    const done = page.locator('[data-testid="job-panel"][data-state="done"]');
    await done.waitFor();
    assert.equal(await page.getByTestId('job-progress').getAttribute('aria-valuenow'), '100');
    await page.getByTestId('job-errors').locator('summary').click();
    assert.match(await page.getByTestId('job-errors').innerText(), /broken\.mp4/);
    const status = await api('/api/status');
    assert.equal(status.library.ok, 14);
    assert.equal(status.library.failed, 1);
    assert.match(await page.getByTestId('library-stats').innerText(), /14 videos/);
    await shot('03-clusters');
    await page.getByTestId('job-dismiss').click();
  });

  test('reloading shows the catalogue again', async () => {
    await page.reload();
    await page.getByTestId('cluster-grid').waitFor();
    assert.ok((await page.getByTestId('cluster-card').count()) >= 3);
    assert.equal(await page.getByTestId('welcome').count(), 0);
  });

  test('the failed files list the broken file with its error', async () => {
    await page.getByTestId('failed-card').click();
    const row = page.getByTestId('failed-row');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    const text = await row.first().innerText();
    assert.match(text, /broken\.mp4/);
    assert.match(text, /not a video/i);
    await shot('04-failed');
    await page.keyboard.press('Escape');
    await page.getByTestId('cluster-grid').waitFor();
  });

  test('opening a cluster shows its videos, with posters that scrub on hover', async () => {
    const byName = await videosByName();
    const cats = byName.get('cats-1.webm').cluster;
    await page.locator(`[data-testid="cluster-card"][data-cluster-id="${cats.id}"] .mosaic`).click();
    await page.getByTestId('cluster-view').waitFor();
    const tiles = page.getByTestId('video-tile');
    await tiles.first().waitFor();
    assert.equal(await tiles.count(), cats.count);
    const names = await tiles.evaluateAll((els) => els.map((e) => e.dataset.videoName));
    assert.ok(names.includes('cats-1.webm'), `cats-1.webm is in ${names}`);
    // Posters load.
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid="tile-img"]')].every((i) => i.complete && i.naturalWidth > 0),
    );
    // Hover scrubbing: the mouse position picks a sampled frame.
    const tile = page.locator('[data-testid="video-tile"][data-video-name="cats-1.webm"] .tile-thumb');
    const box = await tile.boundingBox();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
    const img = tile.getByTestId('tile-img');
    await page.waitForFunction((el) => /\/frames\/12\.jpg$/.test(el.getAttribute('src')), await img.elementHandle());
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.waitForFunction((el) => /\/frames\/1\.jpg$/.test(el.getAttribute('src')), await img.elementHandle());
    await shot('05-cluster');
    await page.mouse.move(5, 300);
  });

  test('dragging a video onto another cluster moves it (kept after a reload)', async () => {
    const byName = await videosByName();
    const video = byName.get('cats-1.webm');
    const from = video.cluster;
    const to = byName.get('coffee-1.webm').cluster;
    assert.notEqual(from.id, to.id);
    await goto(`#/cluster/${from.id}`);
    const tile = page.locator(`[data-testid="video-tile"][data-video-id="${video.id}"]`);
    await tile.waitFor();
    const target = page.locator(`[data-testid="sidebar-cluster"][data-cluster-id="${to.id}"]`);
    await tile.dragTo(target);
    await page.getByTestId('toast-success').first().waitFor();
    await tile.waitFor({ state: 'detached' });
    await page.reload();
    await goto(`#/cluster/${to.id}`);
    await page.locator(`[data-testid="video-tile"][data-video-id="${video.id}"]`).waitFor();
    const after = (await videosByName()).get('cats-1.webm');
    assert.equal(after.cluster.id, to.id);
    assert.equal(after.assigned_by, 'user');
    await shot('06-after-drag');
  });

  test('Undo restores the move', async () => {
    const byName = await videosByName();
    const video = byName.get('cats-1.webm');
    const home = byName.get('cats-2.ogv').cluster;
    assert.notEqual(video.cluster.id, home.id, 'the video is still moved before undo');
    await page.getByTestId('undo-button').click();
    await page.locator('[data-testid="toast-info"]', { hasText: 'Undone' }).waitFor();
    // The open cluster loses the video at once.
    await page.locator(`[data-testid="video-tile"][data-video-id="${video.id}"]`).waitFor({ state: 'detached' });
    await page.reload();
    await goto(`#/cluster/${home.id}`);
    await page.locator(`[data-testid="video-tile"][data-video-id="${video.id}"]`).waitFor();
    assert.equal((await videosByName()).get('cats-1.webm').cluster.id, home.id);
  });

  test('selecting several videos and moving them with Ctrl+Z to undo', async () => {
    const byName = await videosByName();
    const home = byName.get('cats-0.mp4').cluster;
    const to = byName.get('rockets-1.webm').cluster;
    await goto(`#/cluster/${home.id}`);
    const tiles = page.getByTestId('video-tile');
    await tiles.first().waitFor();
    await tiles.nth(0).click();
    await tiles.nth(2).click({ modifiers: ['Shift'] });
    assert.match(await page.getByTestId('selection-count').innerText(), /^3 videos selected/);
    await tiles.nth(1).click({ modifiers: ['Control'] });
    assert.match(await page.getByTestId('selection-count').innerText(), /^2 videos selected/);
    await tiles.nth(0).dragTo(page.locator(`[data-testid="sidebar-cluster"][data-cluster-id="${to.id}"]`));
    await page.getByTestId('toast-success').first().waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="video-tile"]').length === n, home.count - 2);
    assert.equal((await api('/api/clusters')).find((c) => c.id === to.id).count, to.count + 2);
    await page.keyboard.press('Control+z');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="video-tile"]').length === n, home.count);
    assert.equal((await api('/api/clusters')).find((c) => c.id === to.id).count, to.count);
  });

  test('keyboard: arrows move in the grid, Enter opens, Esc goes back', async () => {
    const byName = await videosByName();
    const cluster = byName.get('cats-0.mp4').cluster;
    await goto(`#/cluster/${cluster.id}`);
    await page.getByTestId('video-tile').first().waitFor();
    await page.getByTestId('video-grid').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    await page.getByTestId('video-view').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('cluster-view').waitFor();
    assert.equal(await page.getByTestId('cluster-view').getAttribute('data-cluster-id'), String(cluster.id));
  });

  test('renaming a cluster inline keeps the new name after a reload', async () => {
    const byName = await videosByName();
    const cluster = byName.get('coffee-0.mp4').cluster;
    await goto('#/');
    const card = page.locator(`[data-testid="cluster-card"][data-cluster-id="${cluster.id}"]`);
    await card.getByTestId('cluster-name').dblclick();
    const input = card.getByTestId('rename-input');
    await input.waitFor();
    // Esc cancels.
    await input.fill('Not this');
    await input.press('Escape');
    await card.getByTestId('cluster-name').waitFor();
    assert.equal(await card.getByTestId('cluster-name').innerText(), cluster.name);
    // Enter saves.
    await card.getByTestId('cluster-name').dblclick();
    await card.getByTestId('rename-input').fill('Morning coffee');
    await card.getByTestId('rename-input').press('Enter');
    await page.locator('[data-testid="cluster-card"][data-cluster-name="Morning coffee"]').waitFor();
    await page.reload();
    await page.locator('[data-testid="cluster-card"][data-cluster-name="Morning coffee"]').waitFor();
    const c = (await api('/api/clusters')).find((x) => x.id === cluster.id);
    assert.equal(c.name, 'Morning coffee');
    assert.equal(c.name_source, 'user');
    // A taken name is refused with a message.
    const other = (await api('/api/clusters')).find((x) => x.id !== cluster.id);
    await card.getByTestId('rename-button').click();
    await card.getByTestId('rename-input').fill(other.name.toUpperCase());
    await card.getByTestId('rename-input').press('Enter');
    const err = page.locator('[data-testid="toast-error"]', { hasText: 'already called' });
    await err.waitFor();
    assert.equal((await api('/api/clusters')).find((x) => x.id === cluster.id).name, 'Morning coffee');
    await shot('07-renamed');
  });

  test('the map shows the videos; hovering a point shows its name, clicking opens it', async () => {
    await page.getByTestId('nav-map').click();
    const canvas = page.getByTestId('map-canvas');
    await canvas.waitFor();
    assert.equal(await canvas.getAttribute('data-points'), '14');
    assert.ok((await page.getByTestId('legend-item').count()) >= 3);
    const spot = await findPoint(canvas);
    assert.ok(spot, 'a point is drawn');
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + spot.x, box.y + spot.y);
    const tip = page.getByTestId('map-tooltip');
    await tip.waitFor();
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="map-tooltip-name"]');
      return t && /\.(webm|mp4|ogv)$/.test(t.textContent ?? '');
    });
    const name = await page.getByTestId('map-tooltip-name').innerText();
    await shot('08-map-hover');
    // Zoom with the wheel, then back.
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(100);
    await page.mouse.move(box.x + 10, box.y + 10);
    await page.getByRole('button', { name: /Reset view/ }).click();
    await page.mouse.move(box.x + spot.x, box.y + spot.y);
    await tip.waitFor();
    await page.mouse.click(box.x + spot.x, box.y + spot.y);
    await page.getByTestId('video-view').waitFor();
    assert.equal(await page.locator('.video-title h1').innerText(), name);
  });

  test('on the map, Shift-drag selects points that can be dropped on a legend entry', async () => {
    await goto('#/map');
    const canvas = page.getByTestId('map-canvas');
    await canvas.waitFor();
    const spot = await findPoint(canvas);
    const box = await canvas.boundingBox();
    const x = box.x + spot.x;
    const y = box.y + spot.y;
    // The cluster of the points there, from the tooltip.
    await page.mouse.move(x, y);
    const own = (await page.locator('.map-tip-meta').innerText()).split('·')[0].trim();
    await page.mouse.move(box.x + 5, box.y + 5);
    await page.keyboard.down('Shift');
    await page.mouse.move(x - 30, y - 30);
    await page.mouse.down();
    await page.mouse.move(x, y, { steps: 4 });
    await page.mouse.move(x + 30, y + 30, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const sel = page.getByTestId('map-selection');
    await sel.waitFor();
    const n = Number((await sel.innerText()).match(/(\d+) videos? selected/)[1]);
    assert.ok(n >= 1, `${n} selected`);
    // Drop them on another cluster's legend entry.
    const legend = await page
      .getByTestId('legend-item')
      .evaluateAll((els) => els.map((e) => ({ id: Number(e.dataset.clusterId), name: e.dataset.clusterName })));
    const target = legend.find((l) => l.name !== own).id;
    const before = await api('/api/clusters');
    await page.locator('.selection-chip').dragTo(page.locator(`[data-testid="legend-item"][data-cluster-id="${target}"]`));
    await page.getByTestId('toast-success').first().waitFor();
    const afterDrop = await api('/api/clusters');
    const grown = afterDrop.find((c) => c.id === target).count - before.find((c) => c.id === target).count;
    assert.ok(grown >= 1 && grown <= n, `the target cluster grew by ${grown}`);
    await shot('09a-map-selection');
    await page.getByTestId('undo-button').click();
    await page.locator('[data-testid="toast-info"]', { hasText: 'Undone' }).first().waitFor();
    const restored = await api('/api/clusters');
    assert.deepEqual(
      restored.map((c) => [c.id, c.count]),
      before.map((c) => [c.id, c.count]),
    );
  });

  test('the map of frames is computed on request', async () => {
    await goto('#/map');
    await page.getByTestId('map-kind-frame').click();
    await page.getByTestId('map-compute').click();
    const canvas = page.getByTestId('map-canvas');
    await canvas.waitFor({ timeout: 60_000 });
    assert.equal(await canvas.getAttribute('data-points'), String(14 * 16));
    await shot('09b-map-frames');
  });

  test('a video plays; its strip loads, follows playback and seeks on click', async () => {
    const video = (await videosByName()).get('cats-1.webm');
    const detail = await api(`/api/videos/${video.id}`);
    await goto(`#/video/${video.id}`);
    await page.getByTestId('video-view').waitFor();
    const strip = page.getByTestId('strip-img');
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await strip.elementHandle());
    assert.equal(await strip.evaluate((el) => el.naturalWidth), 1280);
    assert.ok((await page.getByTestId('change-point').count()) >= 1, 'change points are marked');
    assert.ok((await page.getByTestId('top-class').count()) >= 1, 'top classes are listed');
    assert.ok((await page.getByTestId('nearest-item').count()) >= 1, 'nearest videos are listed');
    const player = page.getByTestId('player');
    await player.evaluate((v) => (v.readyState >= 1 ? null : new Promise((r) => v.addEventListener('loadedmetadata', r, { once: true }))));
    const t0 = await player.evaluate((v) => v.currentTime);
    await player.evaluate((v) => {
      v.muted = true;
      return v.play();
    });
    await page.waitForFunction((el) => el.currentTime > 0.6, await player.elementHandle(), { timeout: 15_000 });
    const t1 = await player.evaluate((v) => v.currentTime);
    assert.ok(t1 > t0, `currentTime advanced (${t0} → ${t1})`);
    // The strip cursor follows playback.
    const cursorFrame = Number(await page.getByTestId('strip-cursor').getAttribute('data-frame'));
    assert.ok(cursorFrame > 0, `cursor moved off the first frame (${cursorFrame})`);
    await player.evaluate((v) => v.pause());
    // Click the band of frame 12 of 16: the player seeks to its timestamp.
    const box = await page.getByTestId('strip').boundingBox();
    const n = detail.frames.length;
    await page.mouse.click(box.x + box.width / 2, box.y + ((12 + 0.5) / n) * box.height);
    const want = detail.frames[12].ts_ms / 1000;
    await page.waitForFunction(
      ([el, w]) => Math.abs(el.currentTime - w) < 0.05,
      [await player.elementHandle(), want],
    );
    await page.waitForFunction(() => document.querySelector('[data-testid="strip-cursor"]')?.getAttribute('data-frame') === '12');
    await shot('10-video');
  });

  test('the apply dialog previews every change, applies (copy) and undoes', async () => {
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    await page.getByTestId('apply-open').click();
    const dialog = page.getByTestId('apply-dialog');
    await dialog.waitFor();
    await page.getByTestId('plan-item').first().waitFor();
    assert.equal(await page.getByTestId('plan-item').count(), 14);
    assert.match(await page.getByTestId('apply-preview').innerText(), /Morning coffee\//);
    await shot('11-apply-preview');
    const target = path.join(TMP, 'sorted');
    fs.mkdirSync(target);
    await page.getByTestId('apply-mode-copy').check();
    await page.getByTestId('apply-target').fill(target);
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('[data-testid="plan-item"] .to')].every((e) => e.getAttribute('title')?.startsWith(t)),
      target,
    );
    await page.getByTestId('apply-confirm').click();
    await page.getByTestId('apply-result').waitFor();
    assert.match(await page.getByTestId('apply-result').innerText(), /14 files done/);
    const copied = fs.readdirSync(path.join(target, 'Morning coffee'));
    assert.equal(copied.length, 4);
    assert.ok(fs.existsSync(path.join(LIBRARY, 'coffee', 'coffee-1.webm')), 'copy leaves the originals');
    await page.getByTestId('apply-undo').click();
    await page.locator('[data-testid="toast-success"]', { hasText: 'Restored' }).waitFor();
    const left = fs.existsSync(path.join(target, 'Morning coffee')) ? fs.readdirSync(path.join(target, 'Morning coffee')) : [];
    assert.equal(left.length, 0, 'undo removes the copies');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('a cluster of 5 000 videos renders only the visible rows', async () => {
    const cluster = (await api('/api/clusters'))[0];
    const total = 5000;
    await page.route(`**/api/clusters/${cluster.id}/videos?**`, (route) => {
      const u = new URL(route.request().url());
      const offset = Number(u.searchParams.get('offset') ?? 0);
      const limit = Number(u.searchParams.get('limit') ?? 200);
      const videos = [];
      for (let i = offset; i < Math.min(total, offset + limit); i++) {
        videos.push({
          id: 100000 + i, name: `synthetic-${i}.webm`, path: `/x/synthetic-${i}.webm`, status: 'ok', error: null,
          error_stage: null, duration_ms: 3000, width: 320, height: 240, fps: 25, codec: 'VP8', container: null,
          size: 1000, cluster_id: cluster.id, assigned_by: 'auto',
        });
      }
      route.fulfill({ json: { total, offset, videos } });
    });
    try {
      await goto(`#/cluster/${cluster.id}`);
      await page.locator('[data-testid="video-grid"][data-total="5000"]').waitFor();
      await page.getByTestId('video-tile').first().waitFor();
      const n1 = await page.getByTestId('video-tile').count();
      assert.ok(n1 > 0 && n1 < 120, `only visible tiles are in the DOM (${n1})`);
      await page.getByTestId('video-grid').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.locator('[data-testid="video-tile"][data-video-name="synthetic-4999.webm"]').waitFor();
      const n2 = await page.getByTestId('video-tile').count();
      assert.ok(n2 < 120, `still few tiles after scrolling to the end (${n2})`);
      // Keyboard: Home goes back to the first video.
      await page.getByTestId('video-grid').focus();
      await page.keyboard.press('Home');
      await page.locator('[data-testid="video-tile"][data-video-name="synthetic-0.webm"]').waitFor();
    } finally {
      await page.unroute(`**/api/clusters/${cluster.id}/videos?**`);
    }
  });

  test('a map of 20 000 points stays responsive', async () => {
    const clusters = await api('/api/clusters');
    const points = [];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 20000; i++) {
      const c = clusters[i % clusters.length];
      const cx = Math.cos(c.id) * 5;
      const cy = Math.sin(c.id) * 5;
      points.push([1 + (i % 14), -1, cx + (rnd() - 0.5) * 4, cy + (rnd() - 0.5) * 4, c.id]);
    }
    const body = {
      kind: 'video', current: true, fields: ['video_id', 'idx', 'x', 'y', 'cluster_id'], points,
      clusters: clusters.map((c) => ({ id: c.id, name: c.name, kind: c.kind })),
    };
    await page.route('**/api/map?kind=video', (route) =>
      route.request().method() === 'GET' ? route.fulfill({ json: body }) : route.continue(),
    );
    try {
      await goto('#/map');
      const canvas = page.locator('[data-testid="map-canvas"][data-points="20000"]');
      await canvas.waitFor();
      const box = await canvas.boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      // Time a burst of wheel zooms and hovers, as a person would do them.
      const timing = await canvas.evaluate(async (c) => {
        const r = c.getBoundingClientRect();
        const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
        const draws = [];
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) {
          c.dispatchEvent(new WheelEvent('wheel', { deltaY: i < 10 ? -120 : 120, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true }));
          c.dispatchEvent(new PointerEvent('pointermove', { clientX: r.left + r.width / 2 + i * 7, clientY: r.top + r.height / 2 + i * 3, bubbles: true }));
          await frame();
          draws.push(Number(c.dataset.drawMs));
        }
        return { total: performance.now() - t0, maxDraw: Math.max(...draws), meanDraw: draws.reduce((a, b) => a + b, 0) / draws.length };
      });
      console.log(`# 20k points: 20 frames in ${timing.total.toFixed(0)} ms, draw mean ${timing.meanDraw.toFixed(1)} ms, max ${timing.maxDraw.toFixed(1)} ms`);
      assert.ok(timing.meanDraw < 40, `mean draw ${timing.meanDraw} ms`);
      assert.ok(timing.total < 3000, `20 interactive frames took ${timing.total} ms`);
      await shot('12-map-20k');
    } finally {
      await page.unroute('**/api/map?kind=video');
    }
  });

  test('dark theme follows the system setting', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 120, `dark background (${bg})`);
    await shot('14-dark-clusters');
    const video = (await videosByName()).get('rockets-1.webm');
    await goto(`#/video/${video.id}`);
    await page.waitForFunction(() => document.querySelector('[data-testid="strip-img"]')?.naturalWidth > 0);
    await shot('15-dark-video');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('dragging a cluster card onto another merges them; the toast undoes it', async () => {
    const byName = await videosByName();
    const from = byName.get('ball.mp4').cluster;
    const into = byName.get('cats-0.mp4').cluster;
    const before = await api('/api/clusters');
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    const source = page.locator(`[data-testid="cluster-card"][data-cluster-id="${from.id}"]`);
    const target = page.locator(`[data-testid="cluster-card"][data-cluster-id="${into.id}"]`);
    await source.dragTo(target);
    const toast = page.locator('[data-testid="toast-success"]', { hasText: /merge/i });
    await toast.waitFor();
    await source.waitFor({ state: 'detached' });
    const merged = await api('/api/clusters');
    assert.equal(merged.length, before.length - 1);
    assert.equal(merged.find((c) => c.id === into.id).count, into.count + from.count);
    await toast.getByRole('button', { name: 'Undo' }).click();
    await source.waitFor();
    assert.equal((await api('/api/clusters')).length, before.length);
  });

  test('dropping a video on "New folder" asks for a name and creates the cluster', async () => {
    const byName = await videosByName();
    const video = byName.get('pinwheel.mp4');
    await goto(`#/cluster/${video.cluster.id}`);
    const tile = page.locator(`[data-testid="video-tile"][data-video-id="${video.id}"]`);
    await tile.waitFor();
    await tile.dragTo(page.getByTestId('new-folder-target'));
    await page.getByTestId('prompt-dialog').waitFor();
    await page.getByTestId('prompt-input').fill('Test patterns');
    await page.getByTestId('prompt-confirm').click();
    const item = page.locator('[data-testid="sidebar-cluster"][data-cluster-name="Test patterns"]');
    await item.waitFor();
    assert.equal(await item.locator('.side-count').innerText(), '1');
    await shot('16-new-folder');
    await page.getByTestId('undo-button').click();
    await item.waitFor({ state: 'detached' });
    assert.equal((await videosByName()).get('pinwheel.mp4').cluster.id, video.cluster.id);
  });

  test('in the desktop app the native folder picker is used', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await ctx.addInitScript((lib) => {
      window.__TAURI_INTERNALS__ = {
        invoke: async (cmd) => {
          window.__invoked = cmd;
          return cmd === 'pick_folders' ? [lib] : null;
        },
      };
    }, LIBRARY);
    const p = await ctx.newPage();
    try {
      await p.goto(URL_WITH_TOKEN);
      await p.getByTestId('add-folders').click();
      await p.getByTestId('add-dialog').waitFor();
      assert.equal(await p.getByTestId('library-path').count(), 0, 'no text field in the desktop app');
      await p.getByTestId('pick-folders').click();
      await p.getByText(LIBRARY).waitFor();
      assert.equal(await p.evaluate(() => window.__invoked), 'pick_folders');
      const before = (await api('/api/status')).job?.id ?? -1;
      await p.getByTestId('library-submit').click();
      await p.getByTestId('add-dialog').waitFor({ state: 'detached' });
      // The job (a re-scan: nothing new) runs and ends.
      // Poll from the test until that job has ended, and check the state it ended in.
      const job = await jobAfter(before);
      assert.ok(job, 'the library job did not end within 60 s');
      assert.equal(job.state, 'done', job.message);
    } finally {
      await ctx.close();
    }
  });

  test('re-clustering with a chosen number of clusters', async () => {
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    await page.getByTestId('header-recluster').click();
    await page.getByTestId('recluster-dialog').waitFor();
    await page.getByTestId('recluster-k').fill('3');
    assert.ok(await page.getByTestId('recluster-fixed').isChecked());
    await page.getByTestId('recluster-start').click();
    await page.getByTestId('recluster-dialog').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="cluster-card"]').length === 3, null, {
      timeout: 60_000,
    });
    const clusters = await api('/api/clusters');
    assert.equal(clusters.length, 3);
    // The name given by hand survives.
    assert.ok(clusters.some((c) => c.name === 'Morning coffee'), clusters.map((c) => c.name).join(', '));
  });

  test('a copy of a file is recognised: embedded without decoding, shown as the same file', async () => {
    const original = (await videosByName()).get('rockets-0.mp4');
    fs.copyFileSync(path.join(LIBRARY, 'rockets', 'rockets-0.mp4'), path.join(LIBRARY, 'rockets-0 backup.mp4'));
    const before = (await api('/api/status')).job?.id ?? -1;
    const r = await context.request.post(`${ORIGIN}/api/library`, { data: { paths: [LIBRARY] } });
    assert.equal(r.status(), 202, await r.text());
    const job = await jobAfter(before);
    assert.ok(job, 'the library job did not end within 60 s');
    assert.equal(job.state, 'done', job.message);
    assert.match(job.message, /1 new, 1 embedded \(1 a copy of another file\)/);
    const copy = (await videosByName()).get('rockets-0 backup.mp4');
    assert.ok(copy, 'the copy is in the catalogue');
    assert.equal(copy.cluster.id, original.cluster.id, 'the copy joins its original’s cluster');
    await goto(`#/video/${original.id}`);
    await page.getByTestId('video-view').waitFor();
    const badge = page.getByTestId('nearest-item').filter({ hasText: 'rockets-0 backup.mp4' }).getByTestId('same-file');
    await badge.waitFor();
    assert.equal(await page.getByTestId('same-file').count(), 1, 'only the copy is marked as the same file');
    await shot('17-same-file');
  });

  test('re-clustering adapted to the library says when the library is too small to learn from', async () => {
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    const before = (await api('/api/status')).job?.id ?? -1;
    await page.getByTestId('header-recluster').click();
    await page.getByTestId('recluster-dialog').waitFor();
    await page.getByTestId('recluster-adapt').check();
    await page.getByTestId('recluster-start').click();
    await page.getByTestId('recluster-dialog').waitFor({ state: 'detached' });
    const job = await jobAfter(before);
    assert.ok(job, 'the re-cluster job did not end within 60 s');
    assert.equal(job.state, 'done', job.message);
    assert.match(job.message, /not adapted: \d+ videos are too few/);
  });

  test('videos like the ones a person filed are suggested; accept and reject take one click', async () => {
    const byName = await videosByName();
    const cats = [...byName.values()].filter((v) => /^cats-\d/.test(v.name)).sort((a, b) => a.name.localeCompare(b.name));
    assert.ok(cats.length >= 4, [...byName.keys()].join(', '));
    const r = await context.request.post(`${ORIGIN}/api/assign`, {
      data: { videos: [cats[0].id, cats[1].id], new_folder: 'My cats' },
    });
    assert.equal(r.status(), 200, await r.text());
    const mine = (await r.json()).cluster_id;
    const suggested = await api(`/api/clusters/${mine}/suggestions`);
    const ids = suggested.map((s) => s.video.id);
    assert.ok(ids.includes(cats[2].id) && ids.includes(cats[3].id), JSON.stringify(suggested.map((s) => s.video.name)));
    await goto(`#/cluster/${mine}`);
    await page.getByTestId('suggestions-toggle').click();
    const row = (id) => page.locator(`[data-testid="suggestion"][data-video-id="${id}"]`);
    await row(cats[2].id).getByTestId('suggestion-accept').click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="cluster-view-count"]')?.textContent?.startsWith('3 '),
      null,
      { timeout: 10_000 },
    );
    await row(cats[3].id).waitFor();
    await row(cats[3].id).getByTestId('suggestion-reject').click();
    await row(cats[3].id).waitFor({ state: 'detached' });
    await shot('18-suggestions');
    const after = (await api(`/api/clusters/${mine}/suggestions`)).map((s) => s.video.id);
    assert.ok(!after.includes(cats[3].id), 'a rejected video is not suggested again');
    assert.equal((await videosByName()).get(cats[2].name).cluster.id, mine);
  });

  test('Duplicates lists the copy with its matched span; keeping one sets the others aside, and Undo puts them back', async () => {
    const byName = await videosByName();
    const original = byName.get('rockets-0.mp4');
    const copy = byName.get('rockets-0 backup.mp4');
    assert.ok(original && copy, 'the copy test ran before');
    await goto('#/duplicates');
    await page.getByTestId('duplicates-view').waitFor();
    const group = page.getByTestId('duplicate-group').filter({ has: page.locator(`[data-video="${copy.id}"]`) });
    await group.waitFor({ timeout: 60_000 });
    const pair = group.getByTestId('duplicate-pair').filter({ hasText: 'rockets-0 backup.mp4' }).first();
    assert.match(await pair.innerText(), /\d:\d\d\.\d–\d:\d\d\.\d/, 'the pair shows its matched span');
    assert.ok(Number(await pair.getByTestId('pair-score').innerText()) > 0.8);
    await shot('19-duplicates');
    // Keep the original; the others of the group move into "Duplicates".
    await group.locator(`[data-video="${original.id}"]`).getByTestId('keep-choice').check();
    const others = await group.locator('[data-video]').evaluateAll((els) => els.map((e) => Number(e.dataset.video)));
    const moved = others.filter((id) => id !== original.id);
    await group.getByTestId('set-aside').click();
    const copyPath = path.join(LIBRARY, 'rockets-0 backup.mp4');
    for (const t0 = Date.now(); fs.existsSync(copyPath) && Date.now() - t0 < 10_000; ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(!fs.existsSync(copyPath), 'the copy was moved');
    assert.ok(fs.existsSync(path.join(LIBRARY, 'Duplicates', 'rockets-0 backup.mp4')), 'into the Duplicates folder');
    assert.ok(fs.existsSync(path.join(LIBRARY, 'rockets', 'rockets-0.mp4')), 'the kept one stays');
    const after = await api('/api/duplicates');
    assert.ok(
      !after.groups.some((g) => g.videos.some((v) => moved.includes(v.id))),
      'videos set aside are no duplicates any more',
    );
    // The toast's Undo restores every file.
    await page.locator('.toast').filter({ hasText: 'moved into' }).getByRole('button', { name: 'Undo' }).click();
    for (const t0 = Date.now(); !fs.existsSync(copyPath) && Date.now() - t0 < 10_000; ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(fs.existsSync(copyPath), 'Undo put the copy back');
  });

  test('searching for a concept shows the matching frames; a click opens the video at that frame', async () => {
    await goto('#/');
    await page.getByTestId('header-search').fill('feline');
    await page.getByTestId('header-search').press('Enter');
    await page.getByTestId('find-view').waitFor();
    const hits = page.getByTestId('search-hit');
    await hits.first().waitFor();
    const names = await hits.evaluateAll((els) => els.map((e) => e.querySelector('.hit-name')?.textContent ?? ''));
    assert.ok(names.length >= 4 && names.slice(0, 4).every((n) => n.startsWith('cats-')), names.join(', '));
    const img = await hits.first().locator('img').getAttribute('src');
    assert.match(img ?? '', /\/frames\/\d+\.jpg$/, 'the thumbnail is the matching frame');
    await shot('20-search');
    await hits.first().click();
    await page.getByTestId('video-view').waitFor();
    assert.match(page.url(), /#\/video\/\d+\?t=\d+/, 'the video opens at the frame');
  });

  test('a clip chosen in Find is found with its start time; Play opens the source there', async () => {
    const byName = await videosByName();
    const coffee = byName.get('coffee-1.webm');
    await goto('#/find');
    await page.getByTestId('clip-input').setInputFiles(path.join(LIBRARY, 'coffee', 'coffee-1.webm'));
    const match = page.getByTestId('clip-match').first();
    await match.waitFor({ timeout: 60_000 });
    const ids = await page.getByTestId('clip-match').evaluateAll((els) => els.map((e) => Number(e.dataset.video)));
    assert.ok(ids.includes(coffee.id), `the clip's own video is found: ${ids}`);
    const row = page.locator(`[data-testid="clip-match"][data-video="${coffee.id}"]`);
    assert.match(await row.getByTestId('clip-offset').innerText(), /^0:00\.[0-5]$/, 'it starts at the beginning');
    await shot('21-find-clip');
    await row.getByTestId('clip-play').click();
    await page.getByTestId('video-view').waitFor();
    assert.match(page.url(), new RegExp(`#/video/${coffee.id}\\?t=\\d+`));
    // A clip dropped anywhere on the window (here: on the clusters) is looked for too.
    await goto('#/');
    await page.getByTestId('cluster-grid').waitFor();
    await page.evaluate(async (id) => {
      const blob = await (await fetch(`/api/videos/${id}/media`)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'dropped.webm', { type: 'video/webm' }));
      const target = document.querySelector('[data-testid="cluster-grid"]');
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, coffee.id);
    await page.getByTestId('find-view').waitFor();
    await page.locator(`[data-testid="clip-match"][data-video="${coffee.id}"]`).waitFor({ timeout: 60_000 });
  });

  test('no script errors on the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
