// Shared helpers for benchmark suites: timing, summaries, tables and result files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';

/** Median, minimum and maximum of a set of samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** The machine, including how busy it was (other processes make every timing slower). */
export function machine(): { cpu: string; cores: number; loadAverage1m: number } {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), loadAverage1m: loadavg()[0] };
}

/** Summarizes samples (any unit). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples: [...samples] };
}

/** Wall-clock and CPU milliseconds of one synchronous call (CPU: this process, all threads). */
export function measure(fn: () => unknown): { wallMs: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  fn();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed; summaries in milliseconds. */
export function timeRuns(fn: () => unknown, runs: number, warmup = 1): { wall: Summary; cpu: Summary } {
  for (let i = 0; i < warmup; i++) fn();
  const samples = Array.from({ length: runs }, () => measure(fn));
  return { wall: summarize(samples.map((s) => s.wallMs)), cpu: summarize(samples.map((s) => s.cpuMs)) };
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

/** Prints the errors (if any) and the 1-minute load average at the start and now; returns the latter. */
export function printErrorsAndLoad(errors: readonly string[], loadStart: number): number {
  if (errors.length > 0) {
    console.log('\nErrors:');
    for (const e of errors) console.log(`- ${e}`);
  }
  const loadEnd = loadavg()[0];
  console.log(
    `\nLoad average (1 min): ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end.`,
  );
  return loadEnd;
}

/**
 * Records a suite's results: one `BENCH_JSON {...}` line on stdout (easy to grep from CI logs)
 * and `benchmarks/results/<suite>.json`.
 */
export function writeResults(suite: string, results: unknown): void {
  const record = {
    suite,
    date: new Date().toISOString(),
    node: process.version,
    machine: machine(),
    results,
  };
  console.log(`BENCH_JSON ${JSON.stringify(record)}`);
  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Runs async `fn` `warmup` times untimed, then `runs` times timed; wall-clock milliseconds of
 * each timed call. For device work, `fn` must end by awaiting a readback, or the timing stops
 * before the device does.
 */
export async function timeAsync(fn: () => Promise<unknown>, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}
