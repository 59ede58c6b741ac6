/**
 * Scaling-law plots as standalone SVG text, drawn with `@kiln/trainer`'s line charts (log-log
 * axes, scatter series): isoFLOP curves, the compute-optimal frontier, loss against compute, and
 * a Figure-4-style view of runs in the (C, N) plane with iso-loss contours.
 */
import { type PlotSeries, renderLineChartSvg } from '@kiln/trainer';
import { type ChinchillaLaw, computeOptimal, isoFlopCurve, isoLossCurve, type ScalingLaw } from './laws.js';

// Okabe–Ito (colour-blind friendly), in the same order as @kiln/trainer's default palette.
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

/** A finished run in a plot: its budget, size, tokens and final loss. */
export interface PlotRun {
  C: number;
  N: number;
  D: number;
  loss: number;
}

/** A law with a legend name. */
export interface NamedLaw {
  name: string;
  law: ScalingLaw;
}

/** "1e11", "3e10", "2.5e12": compact budget labels. */
export function formatCompute(C: number): string {
  return C.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
}

function logRange(values: number[], pad = 1.5): [number, number] {
  return [Math.min(...values) / pad, Math.max(...values) * pad];
}

function logSteps(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) =>
    Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (n - 1)),
  );
}

/**
 * Loss against parameters, one curve per budget: the measured runs (markers) and, with a
 * fitted law, its prediction along the same budget (dashed), the U of an isoFLOP sweep.
 */
export function renderIsoFlopSvg(
  runs: readonly PlotRun[],
  law?: ScalingLaw,
  title = 'IsoFLOP curves',
): string {
  const budgets = [...new Set(runs.map((r) => r.C))].sort((a, b) => a - b);
  const [minN, maxN] = logRange(
    runs.map((r) => r.N),
    1.3,
  );
  const series: PlotSeries[] = [];
  budgets.forEach((C, i) => {
    const color = COLORS[i % COLORS.length];
    const points = runs
      .filter((r) => r.C === C)
      .sort((a, b) => a.N - b.N)
      .map((r) => [r.N, r.loss] as const);
    series.push({ name: `C = ${formatCompute(C)}`, points, color, markers: true });
    if (law) {
      const curve = isoFlopCurve(C, law, { minN, maxN, points: 60 }).map((p) => [p.N, p.loss] as const);
      series.push({
        name: `fit, C = ${formatCompute(C)}`,
        points: curve,
        color,
        dashed: true,
        markers: false,
      });
    }
  });
  return renderLineChartSvg(series, {
    title,
    xLabel: 'parameters N',
    yLabel: 'final validation loss (nats/token)',
    xScale: 'log',
  });
}

/** Options of {@link renderFrontierSvg}. */
export interface FrontierOptions {
  /** The laws whose N_opt(C) to draw. */
  laws: readonly NamedLaw[];
  /** The measured best run per budget (lowest loss). */
  measured?: readonly { C: number; N: number }[];
  /** Extra marked points, e.g. the verification run. */
  marks?: readonly { name: string; C: number; N: number }[];
  /** Compute range (default: around the measured points and marks). */
  range?: readonly [number, number];
  title?: string;
}

/** The compute-optimal frontier N_opt(C) of each law, with the measured best size per budget. */
export function renderFrontierSvg(options: FrontierOptions): string {
  const cs = [...(options.measured ?? []).map((m) => m.C), ...(options.marks ?? []).map((m) => m.C)];
  const [lo, hi] = options.range ?? (cs.length > 0 ? logRange(cs, 2) : [1e18, 1e24]);
  const grid = logSteps(lo, hi, 40);
  const series: PlotSeries[] = options.laws.map(({ name, law }, i) => ({
    name: `N_opt, ${name}`,
    points: grid.map((C) => [C, computeOptimal(C, law).N] as const),
    color: COLORS[i % COLORS.length],
    markers: false,
  }));
  if (options.measured?.length) {
    series.push({
      name: 'best measured run per budget',
      points: options.measured.map((m) => [m.C, m.N] as const),
      color: '#000000',
      line: false,
    });
  }
  for (const [i, mark] of (options.marks ?? []).entries()) {
    series.push({
      name: mark.name,
      points: [[mark.C, mark.N]],
      color: COLORS[(i + 4) % COLORS.length],
      line: false,
    });
  }
  return renderLineChartSvg(series, {
    title: options.title ?? 'Compute-optimal model size',
    xLabel: 'training compute C (FLOPs)',
    yLabel: 'parameters N',
    xScale: 'log',
    yScale: 'log',
  });
}

/** Options of {@link renderLossVsComputeSvg}. */
export interface LossVsComputeOptions {
  /** Every run (drawn as faint markers). */
  runs: readonly PlotRun[];
  /** The law whose compute-optimal loss L(N_opt(C), D_opt(C)) to draw. */
  law?: ChinchillaLaw;
  /** The predicted and the measured loss of the verification run. */
  prediction?: { C: number; predicted: number; measured?: number };
  title?: string;
}

/** Loss against compute: every run, the best per budget, the fitted frontier and the prediction. */
export function renderLossVsComputeSvg(options: LossVsComputeOptions): string {
  const { runs, law, prediction } = options;
  const cs = [...runs.map((r) => r.C), ...(prediction ? [prediction.C] : [])];
  const [lo, hi] = logRange(cs, 1.5);
  const series: PlotSeries[] = [
    { name: 'runs', points: runs.map((r) => [r.C, r.loss] as const), color: '#999999', line: false },
  ];
  const best = [...new Set(runs.map((r) => r.C))]
    .sort((a, b) => a - b)
    .map((C) => [C, Math.min(...runs.filter((r) => r.C === C).map((r) => r.loss))] as const);
  series.push({ name: 'best run per budget', points: best, color: COLORS[0], markers: true });
  if (law) {
    series.push({
      name: 'fitted law at N_opt(C)',
      points: logSteps(lo, hi, 40).map((C) => [C, computeOptimal(C, law).loss] as const),
      color: COLORS[1],
      dashed: true,
      markers: false,
    });
  }
  if (prediction) {
    series.push({
      name: 'predicted',
      points: [[prediction.C, prediction.predicted]],
      color: COLORS[1],
      line: false,
    });
    if (prediction.measured !== undefined) {
      series.push({
        name: 'measured',
        points: [[prediction.C, prediction.measured]],
        color: COLORS[2],
        line: false,
      });
    }
  }
  return renderLineChartSvg(series, {
    title: options.title ?? 'Loss against compute',
    xLabel: 'training compute C (FLOPs)',
    yLabel: 'final validation loss (nats/token)',
    xScale: 'log',
  });
}

/**
 * Runs in the (C, N) plane, as in Hoffmann et al.'s Figure 4: the runs (markers), each law's
 * efficient frontier, and iso-loss contours of the first law.
 */
export function renderComputeSizePlaneSvg(
  runs: readonly { C: number; N: number }[],
  laws: readonly NamedLaw[],
  options: { contours?: readonly number[]; title?: string } = {},
): string {
  const [cLo, cHi] = logRange(
    runs.map((r) => r.C),
    3,
  );
  const [nLo, nHi] = logRange(
    runs.map((r) => r.N),
    3,
  );
  const series: PlotSeries[] = [
    { name: 'runs', points: runs.map((r) => [r.C, r.N] as const), color: '#999999', line: false },
  ];
  laws.forEach(({ name, law }, i) => {
    series.push({
      name: `efficient frontier, ${name}`,
      points: logSteps(cLo, cHi, 40).map((C) => [C, computeOptimal(C, law).N] as const),
      color: COLORS[i % COLORS.length],
      markers: false,
    });
  });
  const first = laws[0]?.law;
  if (first) {
    for (const loss of options.contours ?? []) {
      const points = isoLossCurve(loss, first, { minN: nLo, maxN: nHi, points: 60 })
        .filter((p) => p.C >= cLo && p.C <= cHi)
        .map((p) => [p.C, p.N] as const);
      if (points.length > 1)
        series.push({
          name: `L = ${loss} (${laws[0].name})`,
          points,
          color: '#bbbbbb',
          dashed: true,
          markers: false,
        });
    }
  }
  return renderLineChartSvg(series, {
    title: options.title ?? 'Runs, efficient frontier and iso-loss contours',
    xLabel: 'training compute C (FLOPs)',
    yLabel: 'parameters N',
    xScale: 'log',
    yScale: 'log',
    xRange: [cLo, cHi],
    yRange: [nLo, nHi],
  });
}
