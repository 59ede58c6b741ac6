/**
 * Line charts as standalone SVG text: loss curves during training, and any other x/y series
 * (e.g. scaling-law plots of loss against compute on log-log axes).
 *
 * Pure functions with no Node imports; `plot-file.ts` writes the SVG next to a metrics file.
 */
import type { MetricsRecord } from './metrics-jsonl.js';

/** One named line. Points with a non-finite coordinate (or ≤ 0 on a log axis) break the line. */
export interface PlotSeries {
  /** Shown in the legend. */
  name: string;
  /** `[x, y]` pairs, in drawing order. */
  points: readonly (readonly [number, number])[];
  /** CSS colour (default: from a colour-blind-friendly palette, by series index). */
  color?: string;
  /** Draw dashed (default false). */
  dashed?: boolean;
  /** Draw a dot at every point (default: only when the series has at most 50 points). */
  markers?: boolean;
  /** Connect the points with a line (default true); false draws a scatter of markers only. */
  line?: boolean;
}

/** Axis scale. */
export type AxisScale = 'linear' | 'log';

/** Options for {@link renderLineChartSvg}. */
export interface LineChartOptions {
  /** Title above the chart. */
  title?: string;
  /** Label under the x axis. */
  xLabel?: string;
  /** Label beside the y axis. */
  yLabel?: string;
  /** Width in pixels (default 720). */
  width?: number;
  /** Height in pixels (default 440). */
  height?: number;
  /** x axis scale (default linear). */
  xScale?: AxisScale;
  /** y axis scale (default linear). */
  yScale?: AxisScale;
  /** Fixed x range `[min, max]` instead of fitting the data. */
  xRange?: readonly [number, number];
  /** Fixed y range `[min, max]` instead of fitting the data. */
  yRange?: readonly [number, number];
}

/** Options for {@link renderLossCurveSvg}. */
export interface LossCurveOptions extends Omit<LineChartOptions, 'yScale'> {
  /** Plot the loss on a logarithmic axis (default false). */
  logScale?: boolean;
}

// Okabe–Ito colours: distinguishable with the common forms of colour blindness.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

const MARGIN = { left: 72, right: 24, top: 44, bottom: 56 };

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function usable(value: number, scale: AxisScale): boolean {
  return Number.isFinite(value) && (scale === 'linear' || value > 0);
}

/** Data range of one coordinate over all series, widened when empty or degenerate. */
function dataRange(
  values: number[],
  scale: AxisScale,
  fixed: readonly [number, number] | undefined,
  axis: string,
): [number, number] {
  if (fixed) {
    const [lo, hi] = fixed;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi) || (scale === 'log' && lo <= 0)) {
      throw new RangeError(
        `plot: ${axis}Range must be [min, max] with min < max${scale === 'log' ? ' and min > 0 on a log axis' : ''}, got [${lo}, ${hi}]`,
      );
    }
    return [lo, hi];
  }
  if (values.length === 0) return scale === 'log' ? [1, 10] : [0, 1];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    if (scale === 'log') return [lo / 2, hi * 2];
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  if (scale === 'log') {
    const pad = (Math.log10(hi) - Math.log10(lo)) * 0.04;
    lo = 10 ** (Math.log10(lo) - pad);
    hi = 10 ** (Math.log10(hi) + pad);
  } else if (axis === 'y') {
    const pad = (hi - lo) * 0.04; // keep lines off the frame; the x axis stays tight to the data
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

/** 'Nice' linear ticks (1, 2 or 5 × 10^k apart), about `target` of them. */
function linearTicks(lo: number, hi: number, target: number): { values: number[]; step: number } {
  const rough = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const values: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    values.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { values, step };
}

/** Log-axis ticks: powers of ten, filled in with 2× and 5× (or every integer multiple) when the range is short. */
function logTicks(lo: number, hi: number): number[] {
  const candidates = (multipliers: number[]): number[] => {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of multipliers) {
        const v = m * 10 ** e;
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  for (const multipliers of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const ticks = candidates(multipliers);
    if (ticks.length >= 3)
      return ticks.length > 12 ? ticks.filter((_, i) => i % Math.ceil(ticks.length / 10) === 0) : ticks;
  }
  return linearTicks(lo, hi, 4).values.filter((v) => v > 0);
}

/** Formats a tick label: exponent form (1e15) for huge or tiny values, compact (12k, 1.5M) for large ones, just enough decimals otherwise. */
function formatTick(value: number, step?: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e10 || (value !== 0 && abs < 1e-3))
    return value.toExponential(Number.isInteger(Math.log10(abs)) ? 0 : 1).replace('e+', 'e');
  if (abs >= 1e4) {
    for (const [scale, suffix] of [
      [1e9, 'G'],
      [1e6, 'M'],
      [1e3, 'k'],
    ] as const) {
      if (abs >= scale) return `${Number((value / scale).toPrecision(4))}${suffix}`;
    }
  }
  if (step !== undefined)
    return value.toFixed(Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))));
  return String(Number(value.toPrecision(4)));
}

interface Axis {
  scale: AxisScale;
  range: [number, number];
  /** Maps a data value to a pixel position. */
  toPixel: (value: number) => number;
  ticks: { value: number; label: string }[];
}

function makeAxis(
  scale: AxisScale,
  range: [number, number],
  pixelFrom: number,
  pixelTo: number,
  tickTarget: number,
): Axis {
  const t = (v: number) => (scale === 'log' ? Math.log10(v) : v);
  const [a, b] = [t(range[0]), t(range[1])];
  const toPixel = (v: number) => pixelFrom + ((t(v) - a) / (b - a)) * (pixelTo - pixelFrom);
  let ticks: { value: number; label: string }[];
  if (scale === 'log') {
    ticks = logTicks(range[0], range[1]).map((value) => ({ value, label: formatTick(value) }));
  } else {
    const { values, step } = linearTicks(range[0], range[1], tickTarget);
    ticks = values.map((value) => ({ value, label: formatTick(value, step) }));
  }
  return { scale, range, toPixel, ticks };
}

function fmt(n: number): string {
  return Number(n.toFixed(2)).toString();
}

/** The SVG path data of a series; unusable points start a new segment. */
function pathData(series: PlotSeries, x: Axis, y: Axis): string {
  let d = '';
  let penDown = false;
  for (const [px, py] of series.points) {
    if (!usable(px, x.scale) || !usable(py, y.scale)) {
      penDown = false;
      continue;
    }
    d += `${penDown ? 'L' : 'M'}${fmt(x.toPixel(px))} ${fmt(y.toPixel(py))}`;
    penDown = true;
  }
  return d;
}

function checkSeries(series: readonly PlotSeries[]): void {
  if (!Array.isArray(series)) throw new TypeError('plot: series must be an array of { name, points }');
  series.forEach((s, i) => {
    if (typeof s?.name !== 'string' || !Array.isArray(s.points)) {
      throw new TypeError(`plot: series ${i} must be { name: string, points: [x, y][] }`);
    }
  });
}

/**
 * Renders series as a standalone SVG line chart with axes, tick labels, grid lines, axis labels,
 * a title and a legend. Deterministic: the same input gives byte-identical output.
 */
export function renderLineChartSvg(series: readonly PlotSeries[], options: LineChartOptions = {}): string {
  checkSeries(series);
  const width = options.width ?? 720;
  const height = options.height ?? 440;
  if (!(width >= 200 && height >= 150))
    throw new RangeError(`plot: width and height must be at least 200×150, got ${width}×${height}`);
  const xScale = options.xScale ?? 'linear';
  const yScale = options.yScale ?? 'linear';
  const usablePoints = series.flatMap((s) =>
    s.points.filter(([px, py]) => usable(px, xScale) && usable(py, yScale)),
  );
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const x = makeAxis(
    xScale,
    dataRange(
      usablePoints.map((p) => p[0]),
      xScale,
      options.xRange,
      'x',
    ),
    left,
    right,
    8,
  );
  const y = makeAxis(
    yScale,
    dataRange(
      usablePoints.map((p) => p[1]),
      yScale,
      options.yRange,
      'y',
    ),
    bottom,
    top,
    6,
  );

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
  );
  if (options.title) out.push(`<title>${escapeXml(options.title)}</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>`,
  );

  // Grid and ticks.
  out.push('<g stroke="#e5e5e5" stroke-width="1">');
  for (const t of x.ticks)
    out.push(
      `<line x1="${fmt(x.toPixel(t.value))}" y1="${top}" x2="${fmt(x.toPixel(t.value))}" y2="${bottom}"/>`,
    );
  for (const t of y.ticks)
    out.push(
      `<line x1="${left}" y1="${fmt(y.toPixel(t.value))}" x2="${right}" y2="${fmt(y.toPixel(t.value))}"/>`,
    );
  out.push('</g>');
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333333" stroke-width="1"/>`,
  );
  out.push('<g fill="#333333">');
  for (const t of x.ticks) {
    const px = fmt(x.toPixel(t.value));
    out.push(`<line x1="${px}" y1="${bottom}" x2="${px}" y2="${bottom + 5}" stroke="#333333"/>`);
    out.push(`<text x="${px}" y="${bottom + 18}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  for (const t of y.ticks) {
    const py = fmt(y.toPixel(t.value));
    out.push(`<line x1="${left - 5}" y1="${py}" x2="${left}" y2="${py}" stroke="#333333"/>`);
    out.push(
      `<text x="${left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(t.label)}</text>`,
    );
  }
  out.push('</g>');

  // Labels and title.
  if (options.title) {
    out.push(
      `<text x="${fmt((left + right) / 2)}" y="${top - 16}" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(options.title)}</text>`,
    );
  }
  if (options.xLabel) {
    out.push(
      `<text x="${fmt((left + right) / 2)}" y="${height - 14}" text-anchor="middle" font-size="13">${escapeXml(options.xLabel)}</text>`,
    );
  }
  if (options.yLabel) {
    const cy = fmt((top + bottom) / 2);
    out.push(
      `<text x="18" y="${cy}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${cy})">${escapeXml(options.yLabel)}</text>`,
    );
  }
  if (usablePoints.length === 0) {
    out.push(
      `<text x="${fmt((left + right) / 2)}" y="${fmt((top + bottom) / 2)}" text-anchor="middle" fill="#888888">no data yet</text>`,
    );
  }

  // Series.
  out.push(
    '<g clip-path="url(#plot-area)" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">',
  );
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
    const d = s.line === false ? '' : pathData(s, x, y);
    if (d) out.push(`<path d="${d}" stroke="${color}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (s.markers ?? (s.line === false || s.points.length <= 50)) {
      for (const [px, py] of s.points) {
        if (usable(px, xScale) && usable(py, yScale)) {
          out.push(
            `<circle cx="${fmt(x.toPixel(px))}" cy="${fmt(y.toPixel(py))}" r="2.5" fill="${color}" stroke="none"/>`,
          );
        }
      }
    }
  });
  out.push('</g>');

  // Legend, top right inside the plot area.
  if (series.length > 0) {
    const rowHeight = 18;
    const legendWidth = 36 + Math.max(...series.map((s) => s.name.length)) * 7;
    const lx = right - legendWidth - 10;
    const ly = top + 10;
    out.push(`<g font-size="12">`);
    out.push(
      `<rect x="${lx}" y="${ly}" width="${legendWidth}" height="${series.length * rowHeight + 8}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
    );
    series.forEach((s, i) => {
      const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
      const rowY = ly + 4 + rowHeight * i + rowHeight / 2;
      out.push(
        s.line === false
          ? `<circle cx="${lx + 18}" cy="${rowY}" r="3" fill="${color}"/>`
          : `<line x1="${lx + 8}" y1="${rowY}" x2="${lx + 28}" y2="${rowY}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      out.push(
        `<text x="${lx + 34}" y="${rowY}" dominant-baseline="middle" fill="#333333">${escapeXml(s.name)}</text>`,
      );
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A loss curve: steps on x, loss on y (optionally log-scaled), with a legend. */
export function renderLossCurveSvg(series: readonly PlotSeries[], options: LossCurveOptions = {}): string {
  const { logScale, ...rest } = options;
  return renderLineChartSvg(series, {
    title: 'Loss',
    xLabel: 'step',
    yLabel: logScale ? 'loss (log scale)' : 'loss',
    ...rest,
    yScale: logScale ? 'log' : 'linear',
  });
}

/**
 * The training (`loss`) and validation (`valLoss`) series of a metrics log, for
 * {@link renderLossCurveSvg}. Records without a numeric value for a key are skipped.
 */
export function lossSeriesFromMetrics(records: readonly MetricsRecord[], prefix = ''): PlotSeries[] {
  const pick = (key: string): [number, number][] =>
    records.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key] as number]);
  const series: PlotSeries[] = [];
  const train = pick('loss');
  const validation = pick('valLoss');
  if (train.length > 0) series.push({ name: `${prefix}train`, points: train });
  if (validation.length > 0) series.push({ name: `${prefix}validation`, points: validation, markers: true });
  return series;
}
