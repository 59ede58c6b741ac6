// Shared helpers for benchmark suites: timing, summaries, tables and result files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Median, minimum and maximum of a set of samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** Summarizes samples (any unit). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples: [...samples] };
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed; returns milliseconds per run. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 1): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

/** Turns a summary of milliseconds into a summary of a rate (`amount` per second). */
export function toRate(ms: Summary, amount: number): Summary {
  const rate = (t: number) => (amount / t) * 1000;
  return { median: rate(ms.median), min: rate(ms.max), max: rate(ms.min), samples: ms.samples.map(rate) };
}

/** `12.3 (11.9–12.8)`: median and range. */
export function formatSummary(s: Summary, digits = 1): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** `2.41×`, or `n/a`. */
export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? 'n/a' : `${ratio.toFixed(2)}×`;
}

/** Prints rows as an aligned text table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, c) => (cell ?? '').padEnd(widths[c])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log();
}

/**
 * Records a suite's results: one `BENCH_JSON {...}` line on stdout (easy to grep from CI logs)
 * and `benchmarks/results/<suite>.json`.
 */
export function writeResults(suite: string, results: unknown): void {
  const record = { suite, date: new Date().toISOString(), node: process.version, results };
  console.log(`BENCH_JSON ${JSON.stringify(record)}`);
  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(record, null, 2)}\n`);
}
