/**
 * A time-series line chart on a canvas (browser code): a few series over a
 * shared time axis, y from zero to a rounded maximum, four grid lines with
 * unit-formatted labels. Small enough to ship with the package, so the
 * dashboard needs no CDN.
 */
import type { Canvas, Ctx2D, Doc, El } from './dom.js';

declare const document: Doc;
declare const window: { readonly devicePixelRatio: number };

export interface Series {
  label: string;
  /** One value per time point; `null` leaves a gap. */
  values: (number | null)[];
}

/** Distinct colours, in order of series. */
const PALETTE = ['#2f7ed8', '#e4572e', '#29a35a', '#f3a712', '#8e44ad', '#16a2b8', '#c0392b', '#7f8c8d', '#d35400', '#2c3e50'];

const PAD = { left: 64, right: 12, top: 10, bottom: 22 };

export class LineChart {
  readonly root: El;
  private readonly canvas: Canvas;
  private readonly legend: El;
  private draws = 0;

  constructor(
    title: string,
    private readonly format: (v: number) => string,
  ) {
    this.root = document.createElement('section');
    this.root.className = 'chart';
    const h = document.createElement('h2');
    h.textContent = title;
    this.canvas = document.createElement('canvas') as Canvas;
    this.canvas.setAttribute('aria-label', title);
    this.legend = document.createElement('div');
    this.legend.className = 'legend';
    this.root.appendChild(h);
    this.root.appendChild(this.canvas);
    this.root.appendChild(this.legend);
  }

  /** Draws `series` against `times` (epoch ms, ascending). */
  draw(times: readonly number[], series: readonly Series[]): void {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const cssW = c.clientWidth || 480;
    const cssH = c.clientHeight || 180;
    if (c.width !== Math.round(cssW * ratio)) c.width = Math.round(cssW * ratio);
    if (c.height !== Math.round(cssH * ratio)) c.height = Math.round(cssH * ratio);
    const g = c.getContext('2d');
    if (g === null) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, cssW, cssH);
    const plotW = cssW - PAD.left - PAD.right;
    const plotH = cssH - PAD.top - PAD.bottom;
    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    const top = niceCeiling(max);
    this.grid(g, top, plotW, plotH, times);
    const t0 = times[0] ?? 0;
    const span = Math.max(1, (times[times.length - 1] ?? 0) - t0);
    let points = 0;
    series.forEach((s, i) => {
      g.strokeStyle = PALETTE[i % PALETTE.length] as string;
      g.lineWidth = 1.5;
      g.beginPath();
      let pen = false;
      s.values.forEach((v, k) => {
        if (v === null) {
          pen = false;
          return;
        }
        const x = PAD.left + (((times[k] ?? t0) - t0) / span) * plotW;
        const y = PAD.top + plotH - (v / top) * plotH;
        if (pen) g.lineTo(x, y);
        else g.moveTo(x, y);
        pen = true;
        points++;
      });
      g.stroke();
    });
    this.renderLegend(series);
    this.draws++;
    // Read by the browser test: proof that the chart drew, and how much.
    c.dataset.draws = String(this.draws);
    c.dataset.points = String(points);
  }

  private grid(g: Ctx2D, top: number, plotW: number, plotH: number, times: readonly number[]): void {
    g.strokeStyle = '#e3e6ea';
    g.lineWidth = 1;
    g.fillStyle = '#5f6b7a';
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = PAD.top + plotH - (i / 4) * plotH;
      g.beginPath();
      g.moveTo(PAD.left, y);
      g.lineTo(PAD.left + plotW, y);
      g.stroke();
      g.fillText(this.format((top * i) / 4), PAD.left - 6, y);
    }
    if (times.length > 1) {
      g.textAlign = 'left';
      g.textBaseline = 'top';
      const secs = Math.round(((times[times.length - 1] as number) - (times[0] as number)) / 1000);
      g.fillText(`-${secs}s`, PAD.left, PAD.top + plotH + 6);
      g.textAlign = 'right';
      g.fillText('now', PAD.left + plotW, PAD.top + plotH + 6);
    }
  }

  private renderLegend(series: readonly Series[]): void {
    const items = series.map((s, i) => {
      const item = document.createElement('span');
      const swatch = document.createElement('i');
      swatch.style.background = PALETTE[i % PALETTE.length] as string;
      item.appendChild(swatch);
      const last = lastValue(s.values);
      const text = document.createElement('span');
      text.textContent = `${s.label} ${last === null ? '–' : this.format(last)}`;
      item.appendChild(text);
      return item;
    });
    this.legend.replaceChildren(...items);
  }
}

function lastValue(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i] as number;
  return null;
}

/** The smallest 1, 2 or 5 × 10^k at or above `v` (1 when everything is zero). */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}
