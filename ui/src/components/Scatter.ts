// Canvas scatter plot for the map: typed arrays, one batched path per colour, a
// uniform spatial grid for hit-testing, redraws coalesced into requestAnimationFrame.
// Plain TypeScript (no framework) so 20 000+ points stay smooth.

export interface ScatterData {
  n: number;
  vid: Int32Array;
  idx: Int32Array;
  x: Float32Array;
  y: Float32Array;
  cid: Int32Array; // -1: no cluster
}

export interface View {
  k: number; // zoom factor
  px: number; // pan, CSS px
  py: number;
}

const NONE = -1;

export class Scatter {
  private ctx: CanvasRenderingContext2D;
  private w = 0;
  private h = 0;
  private dpr = 1;
  private data: ScatterData = emptyData();
  private groups: { colour: string; cid: number; items: Uint32Array }[] = [];
  private s0 = 1;
  private midX = 0;
  private midY = 0;
  private gridN = 1;
  private gridMinX = 0;
  private gridMinY = 0;
  private gridCellW = 1;
  private gridCellH = 1;
  private gridStart = new Uint32Array(2);
  private gridItems = new Uint32Array(0);
  private raf = 0;
  view: View = { k: 1, px: 0, py: 0 };
  hover = NONE;
  highlight: number | null = null;
  selected: Set<number> = new Set(); // video ids
  lasso: { x0: number; y0: number; x1: number; y1: number } | null = null;
  pointRadius = 4;
  lastDrawMs = 0;
  onDraw: ((ms: number) => void) | null = null;

  constructor(private canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext('2d', { alpha: true });
    if (!ctx) throw new Error('Canvas 2D is not available');
    this.ctx = ctx;
  }

  resize(w: number, h: number): void {
    this.dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    this.w = w;
    this.h = h;
    this.canvas.width = Math.round(w * this.dpr);
    this.canvas.height = Math.round(h * this.dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.fitBase();
    this.request();
  }

  setData(d: ScatterData, colours: Map<number, string>, fallback: string, keepView: boolean): void {
    this.data = d;
    this.hover = NONE;
    // Group point indices by colour.
    const byCid = new Map<number, number[]>();
    for (let i = 0; i < d.n; i++) {
      const c = d.cid[i]!;
      let a = byCid.get(c);
      if (!a) byCid.set(c, (a = []));
      a.push(i);
    }
    this.groups = [...byCid.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .map(([cid, items]) => ({ cid, colour: colours.get(cid) ?? fallback, items: Uint32Array.from(items) }));
    this.buildGrid();
    this.fitBase();
    if (!keepView) this.view = { k: 1, px: 0, py: 0 };
    this.request();
  }

  setColours(colours: Map<number, string>, fallback: string): void {
    for (const g of this.groups) g.colour = colours.get(g.cid) ?? fallback;
    this.request();
  }

  private fitBase(): void {
    const d = this.data;
    let minX = Infinity;
    let maxX = -Infinity;
    let minY = Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < d.n; i++) {
      const x = d.x[i]!;
      const y = d.y[i]!;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    if (!Number.isFinite(minX)) {
      minX = maxX = minY = maxY = 0;
    }
    const dx = Math.max(maxX - minX, 1e-6);
    const dy = Math.max(maxY - minY, 1e-6);
    this.midX = (minX + maxX) / 2;
    this.midY = (minY + maxY) / 2;
    const margin = 36;
    this.s0 = Math.max(1e-6, Math.min((this.w - 2 * margin) / dx, (this.h - 2 * margin) / dy));
  }

  private buildGrid(): void {
    const d = this.data;
    const n = d.n;
    const g = Math.max(8, Math.min(256, Math.ceil(Math.sqrt(n / 4))));
    let minX = Infinity;
    let maxX = -Infinity;
    let minY = Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, d.x[i]!);
      maxX = Math.max(maxX, d.x[i]!);
      minY = Math.min(minY, d.y[i]!);
      maxY = Math.max(maxY, d.y[i]!);
    }
    if (!Number.isFinite(minX)) minX = maxX = minY = maxY = 0;
    this.gridN = g;
    this.gridMinX = minX;
    this.gridMinY = minY;
    this.gridCellW = Math.max((maxX - minX) / g, 1e-9);
    this.gridCellH = Math.max((maxY - minY) / g, 1e-9);
    const cellOf = new Uint32Array(n);
    const counts = new Uint32Array(g * g + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cell(d.x[i]!, d.y[i]!);
      cellOf[i] = c;
      counts[c + 1]!++;
    }
    for (let c = 0; c < g * g; c++) counts[c + 1]! += counts[c]!;
    const fill = counts.slice(0, g * g);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]!]!++] = i;
    this.gridStart = counts;
    this.gridItems = items;
  }

  private cell(x: number, y: number): number {
    const g = this.gridN;
    const cx = Math.min(g - 1, Math.max(0, Math.floor((x - this.gridMinX) / this.gridCellW)));
    const cy = Math.min(g - 1, Math.max(0, Math.floor((y - this.gridMinY) / this.gridCellH)));
    return cy * g + cx;
  }

  private get scale(): number {
    return this.s0 * this.view.k;
  }

  sx(x: number): number {
    return this.w / 2 + this.view.px + (x - this.midX) * this.scale;
  }

  sy(y: number): number {
    return this.h / 2 + this.view.py - (y - this.midY) * this.scale;
  }

  dataX(sx: number): number {
    return (sx - this.w / 2 - this.view.px) / this.scale + this.midX;
  }

  dataY(sy: number): number {
    return -(sy - this.h / 2 - this.view.py) / this.scale + this.midY;
  }

  screenOf(i: number): [number, number] {
    return [this.sx(this.data.x[i]!), this.sy(this.data.y[i]!)];
  }

  /** The point under (sx, sy) within a few pixels, or -1. */
  pick(sx: number, sy: number, slop = 5): number {
    const d = this.data;
    if (!d.n) return NONE;
    const r = (this.radius() + slop) / this.scale;
    const x = this.dataX(sx);
    const y = this.dataY(sy);
    const g = this.gridN;
    const cx0 = Math.max(0, Math.floor((x - r - this.gridMinX) / this.gridCellW));
    const cx1 = Math.min(g - 1, Math.floor((x + r - this.gridMinX) / this.gridCellW));
    const cy0 = Math.max(0, Math.floor((y - r - this.gridMinY) / this.gridCellH));
    const cy1 = Math.min(g - 1, Math.floor((y + r - this.gridMinY) / this.gridCellH));
    let best = NONE;
    let bestD = r * r;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * g + cx;
        for (let k = this.gridStart[c]!; k < this.gridStart[c + 1]!; k++) {
          const i = this.gridItems[k]!;
          const ddx = d.x[i]! - x;
          const ddy = d.y[i]! - y;
          const dd = ddx * ddx + ddy * ddy;
          // Ties: the later-drawn (on top) point wins.
          if (dd <= bestD) {
            bestD = dd;
            best = i;
          }
        }
      }
    }
    return best;
  }

  /** Video ids of the points inside a screen rectangle. */
  pickRect(x0: number, y0: number, x1: number, y1: number): number[] {
    const d = this.data;
    const ax = this.dataX(Math.min(x0, x1));
    const bx = this.dataX(Math.max(x0, x1));
    const ay = this.dataY(Math.max(y0, y1));
    const by = this.dataY(Math.min(y0, y1));
    const ids = new Set<number>();
    for (let i = 0; i < d.n; i++) {
      const x = d.x[i]!;
      const y = d.y[i]!;
      if (x >= ax && x <= bx && y >= ay && y <= by) ids.add(d.vid[i]!);
    }
    return [...ids];
  }

  zoomAt(sx: number, sy: number, factor: number): void {
    const k = Math.max(0.3, Math.min(2000, this.view.k * factor));
    const f = k / this.view.k;
    // Keep the data point under the cursor fixed.
    const cx = sx - this.w / 2;
    const cy = sy - this.h / 2;
    this.view = { k, px: cx - (cx - this.view.px) * f, py: cy - (cy - this.view.py) * f };
    this.request();
  }

  pan(dx: number, dy: number): void {
    this.view = { ...this.view, px: this.view.px + dx, py: this.view.py + dy };
    this.request();
  }

  reset(): void {
    this.view = { k: 1, px: 0, py: 0 };
    this.request();
  }

  radius(): number {
    return Math.max(1.5, Math.min(9, this.pointRadius * Math.pow(this.view.k, 0.25)));
  }

  request(): void {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  destroy(): void {
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
  }

  draw(): void {
    const t0 = performance.now();
    const { ctx, data: d } = this;
    const w = this.w;
    const h = this.h;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const r = this.radius();
    const scale = this.scale;
    const ox = w / 2 + this.view.px - this.midX * scale;
    const oy = h / 2 + this.view.py + this.midY * scale;
    const tau = Math.PI * 2;
    const small = r < 2.2;
    const hl = this.highlight;
    for (const pass of hl === null ? [0] : [1, 2]) {
      for (const g of this.groups) {
        if (pass === 1 && g.cid === hl) continue;
        if (pass === 2 && g.cid !== hl) continue;
        ctx.globalAlpha = pass === 1 ? 0.14 : 0.88;
        ctx.fillStyle = g.colour;
        ctx.beginPath();
        const items = g.items;
        for (let k = 0; k < items.length; k++) {
          const i = items[k]!;
          const x = ox + d.x[i]! * scale;
          const y = oy - d.y[i]! * scale;
          if (x < -r || y < -r || x > w + r || y > h + r) continue;
          if (small) ctx.rect(x - r, y - r, 2 * r, 2 * r);
          else {
            ctx.moveTo(x + r, y);
            ctx.arc(x, y, r, 0, tau);
          }
        }
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    // Selected points: rings.
    if (this.selected.size) {
      ctx.strokeStyle = getCss('--text', '#111');
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let i = 0; i < d.n; i++) {
        if (!this.selected.has(d.vid[i]!)) continue;
        const x = ox + d.x[i]! * scale;
        const y = oy - d.y[i]! * scale;
        if (x < -r || y < -r || x > w + r || y > h + r) continue;
        ctx.moveTo(x + r + 2, y);
        ctx.arc(x, y, r + 2, 0, tau);
      }
      ctx.stroke();
    }
    if (this.hover !== NONE && this.hover < d.n) {
      const x = ox + d.x[this.hover]! * scale;
      const y = oy - d.y[this.hover]! * scale;
      ctx.beginPath();
      ctx.arc(x, y, r + 3.5, 0, tau);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = getCss('--bg', '#fff');
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x, y, r + 3.5, 0, tau);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = getCss('--text', '#111');
      ctx.stroke();
    }
    if (this.lasso) {
      const { x0, y0, x1, y1 } = this.lasso;
      ctx.fillStyle = getCss('--accent-soft', 'rgba(91,91,214,.15)');
      ctx.strokeStyle = getCss('--accent', '#5b5bd6');
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.strokeRect(Math.min(x0, x1) + 0.5, Math.min(y0, y1) + 0.5, Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    }
    this.lastDrawMs = performance.now() - t0;
    this.onDraw?.(this.lastDrawMs);
  }
}

const cssCache = new Map<string, string>();
let cssCacheScheme = '';
function getCss(name: string, fallback: string): string {
  const scheme = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  if (scheme !== cssCacheScheme) {
    cssCache.clear();
    cssCacheScheme = scheme;
  }
  let v = cssCache.get(name);
  if (v === undefined) {
    v = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
    cssCache.set(name, v);
  }
  return v;
}

export function emptyData(): ScatterData {
  return {
    n: 0,
    vid: new Int32Array(0),
    idx: new Int32Array(0),
    x: new Float32Array(0),
    y: new Float32Array(0),
    cid: new Int32Array(0),
  };
}

export function toScatterData(points: [number, number, number, number, number | null][]): ScatterData {
  const n = points.length;
  const d: ScatterData = {
    n,
    vid: new Int32Array(n),
    idx: new Int32Array(n),
    x: new Float32Array(n),
    y: new Float32Array(n),
    cid: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    d.vid[i] = p[0];
    d.idx[i] = p[1];
    d.x[i] = p[2];
    d.y[i] = p[3];
    d.cid[i] = p[4] ?? -1;
  }
  return d;
}
