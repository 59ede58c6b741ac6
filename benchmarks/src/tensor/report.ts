// Turns the children's raw samples into the tensor suite's rows, tables and roofline.
import { formatRatio, formatSummary, printTable, type Summary, summarize } from '../harness.js';
import { type Measurement, rate, type Workload } from './workloads.js';

/** The columns of the report: who ran a measurement. */
export const LIBRARIES = ['kiln', 'tfjs', 'cpu', 'torch', 'jax'] as const;
export type Library = (typeof LIBRARIES)[number];
export const LIBRARY_LABEL: Record<Library, string> = {
  kiln: 'Kiln webgpu',
  tfjs: 'TF.js webgpu',
  cpu: 'Kiln cpu',
  torch: 'PyTorch cpu',
  jax: 'jax-js webgpu',
};

/** One library's measurement of one row: milliseconds per op and the rate, both summarised. */
export interface Cell {
  ms: Summary;
  rate: Summary;
}

/** One row of the report: a workload (or a variant of it) across libraries. */
export interface Row {
  workload: Workload;
  variant: string;
  label: string;
  cells: Partial<Record<Library, Cell>>;
}

export function cell(workload: Workload, m: Measurement): Cell {
  return {
    ms: summarize(m.msPerOp),
    rate: summarize(m.msPerOp.map((ms) => rate(workload.unit, workload, ms))),
  };
}

/** Adds `measurements` of `library` to `rows`, one row per variant (raw adapter lines are kept apart). */
export function addMeasurements(
  rows: Row[],
  workload: Workload,
  library: Library,
  measurements: Measurement[],
): void {
  for (const m of measurements) {
    if (m.raw || m.reference) continue;
    let row = rows.find((r) => r.workload.id === workload.id && r.variant === m.variant);
    if (!row) {
      const label = m.variant ? `${workload.label}, ${m.variant}` : workload.label;
      row = { workload, variant: m.variant, label, cells: {} };
      rows.push(row);
    }
    row.cells[library] = cell(workload, m);
  }
}

const digits = (x: number) => (x >= 100 ? 0 : x >= 10 ? 1 : 2);
const fmt = (s: Summary | undefined) => (s ? formatSummary(s, digits(s.median)) : '—');

/**
 * Kiln's median rate over TF.js's (above 1: Kiln is faster). A Kiln-only variant (a fused op,
 * say) is compared with the TF.js line of its workload's main row.
 */
export function kilnOverTfjs(row: Row, rows: readonly Row[] = []): number | undefined {
  const k = row.cells.kiln?.rate.median;
  const main = rows.find((r) => r.workload.id === row.workload.id && r.variant === '');
  const t = (row.cells.tfjs ?? main?.cells.tfjs)?.rate.median;
  return k !== undefined && t !== undefined ? k / t : undefined;
}

/** Kiln's median rate over jax-js's (above 1: Kiln is faster), where jax-js ran the row. */
export function kilnOverJax(row: Row): number | undefined {
  const k = row.cells.kiln?.rate.median;
  const j = row.cells.jax?.rate.median;
  return k !== undefined && j !== undefined ? k / j : undefined;
}

export function printRates(rows: Row[]): void {
  printTable(
    [
      'workload',
      'unit',
      ...LIBRARIES.slice(0, 2).map((l) => LIBRARY_LABEL[l]),
      'Kiln/TF.js',
      ...LIBRARIES.slice(2).map((l) => LIBRARY_LABEL[l]),
      'Kiln/jax-js',
    ],
    rows.map((r) => [
      r.label,
      r.workload.unit,
      fmt(r.cells.kiln?.rate),
      fmt(r.cells.tfjs?.rate),
      formatRatio(kilnOverTfjs(r, rows)),
      fmt(r.cells.cpu?.rate),
      fmt(r.cells.torch?.rate),
      fmt(r.cells.jax?.rate),
      formatRatio(kilnOverJax(r)),
    ]),
  );
}

export function printTimes(rows: Row[]): void {
  printTable(
    ['workload', ...LIBRARIES.map((l) => `${LIBRARY_LABEL[l]} ms`)],
    rows.map((r) => [r.label, ...LIBRARIES.map((l) => fmt(r.cells[l]?.ms))]),
  );
}

/** The floor of one op: compute at peak FLOP/s, memory at the measured copy bandwidth. */
export interface Floor {
  computeMs: number;
  memoryMs: number;
  ms: number;
  bound: 'compute' | 'memory';
}

export function floor(workload: Workload, peakGflops: number, roofGBps: number): Floor {
  const computeMs = workload.flops / (peakGflops * 1e6);
  const memoryMs = workload.bytes / (roofGBps * 1e6);
  return {
    computeMs,
    memoryMs,
    ms: Math.max(computeMs, memoryMs),
    bound: computeMs >= memoryMs ? 'compute' : 'memory',
  };
}

const pct = (floorMs: number, c: Cell | undefined) =>
  c ? `${((100 * floorMs) / c.ms.median).toFixed(2)}%` : '—';

export function printRoofline(rows: Row[], peakGflops: number, roofGBps: number): void {
  printTable(
    [
      'workload',
      'compute floor ms',
      'memory floor ms',
      'bound',
      'Kiln % of roof',
      'TF.js % of roof',
      'PyTorch % of roof',
    ],
    rows
      .filter(
        (r) => r.cells.kiln && (!r.variant || r.variant === 'transposed' || r.variant.startsWith('Kiln')),
      )
      .map((r) => {
        const f = floor(r.workload, peakGflops, roofGBps);
        return [
          r.label,
          f.computeMs.toFixed(3),
          f.memoryMs.toFixed(3),
          f.bound,
          pct(f.ms, r.cells.kiln),
          pct(f.ms, r.cells.tfjs),
          pct(f.ms, r.cells.torch),
        ];
      }),
  );
}
