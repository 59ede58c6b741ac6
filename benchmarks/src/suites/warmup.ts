// The first steps of a run: how fast a fresh process (cold pipelines) settles to its steady step
// time on WebGPU, with the executor's paced waits (the default: sleep most of a predicted wait,
// so a pending device promise does not take the CPU from a software adapter's kernel threads)
// and with `KILN_WEBGPU_WAIT=plain` (always wait on the device at once).
// In Node (Dawn) and, when Chromium is installed (Debian's chromium package; BENCH_CHROMIUM
// overrides the path), in headless Chromium on its own WebGPU adapter (SwiftShader here). Two
// workloads, each in fresh processes (fresh browsers), the two modes interleaved:
//   small: gpt2-tiny, batch 4 × 32, 12 steps (the reproduction: step 1 compiles every
//          pipeline; paced waits used to learn a speed slowed by it and take ~20 steps to settle)
//   large: gpt2-tiny, batch 16 × 128, 8 steps (long waits: where the pacing saves CPU and time)
// Reported: median time of each step, step 3 paced / plain (target ≤ 1.3×), the whole run's
// time, and CPU time of the steady steps (all threads of the process).
// Environment: BENCH_WARMUP_REPEATS (processes per mode and workload, default 3),
// BENCH_WARMUP_WORKLOADS (comma-separated: small,large; default both).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatRatio, printErrorsAndLoad, printTable, summarize, writeResults } from '../harness.js';
import type { Suite } from '../run.js';
import { type ChildOutcome, runNode } from '../tensor/child.js';
import { CHROMIUM, firstStepsInChromium } from '../warmup/browser.js';
import type { FirstStepsRun } from '../warmup/steps.js';

const SCRIPT = join(import.meta.dirname, '..', 'warmup', 'first-steps.ts');
const REPEATS = Number(process.env.BENCH_WARMUP_REPEATS ?? 3);
const WORKLOADS = [
  { name: 'small', steps: 12, batch: 4, context: 32 },
  { name: 'large', steps: 8, batch: 16, context: 128 },
] as const;
type Workload = (typeof WORKLOADS)[number];
const SELECTED = process.env.BENCH_WARMUP_WORKLOADS?.split(',') ?? WORKLOADS.map((w) => w.name);
const MODES = ['paced', 'plain'] as const;
type Mode = (typeof MODES)[number];
type Run = FirstStepsRun;

/** Where a run happens: a fresh Node process, or a fresh headless Chromium. */
const ENVIRONMENTS: {
  name: string;
  available: boolean;
  run(w: Workload, mode: Mode): Promise<ChildOutcome<Run>>;
}[] = [
  {
    name: 'node',
    available: true,
    run: async (w, mode) =>
      runNode<Run>(SCRIPT, [String(w.steps), String(w.batch), String(w.context)], 10 * 60_000, {
        KILN_WEBGPU_WAIT: mode,
      }),
  },
  {
    name: 'chromium',
    available: existsSync(CHROMIUM),
    run: async (w, mode) => {
      try {
        const value = await firstStepsInChromium(w.steps, w.batch, w.context, mode);
        return { ok: true, value, loadAfter: 0 };
      } catch (err) {
        return { ok: false, error: `chromium ${w.name} ${mode}: ${(err as Error).message}`, loadAfter: 0 };
      }
    },
  },
];

const median = (xs: number[]) => summarize(xs).median;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const suite: Suite = {
  name: 'warmup',
  async run() {
    const loadStart = (await import('node:os')).loadavg()[0];
    const errors: string[] = [];
    const results: Record<string, unknown> = {};
    for (const environment of ENVIRONMENTS) {
      if (!environment.available) {
        console.log(
          `${environment.name}: skipped (no browser at ${CHROMIUM}; apt-get install chromium, or set BENCH_CHROMIUM)\n`,
        );
        continue;
      }
      for (const w of WORKLOADS.filter((x) => SELECTED.includes(x.name))) {
        const runs: Record<Mode, Run[]> = { paced: [], plain: [] };
        for (let r = 0; r < REPEATS; r++) {
          for (const mode of MODES) {
            const outcome = await environment.run(w, mode);
            if (outcome.ok) runs[mode].push(outcome.value);
            else errors.push(outcome.error);
          }
        }
        if (runs.paced.length === 0 || runs.plain.length === 0) continue;
        const perStep = (mode: Mode) =>
          Array.from({ length: w.steps }, (_, i) => median(runs[mode].map((r) => r.stepMs[i])));
        const paced = perStep('paced');
        const plain = perStep('plain');
        console.log(
          `${environment.name} (${runs.paced[0].device}), ${w.name}: gpt2-tiny, batch ${w.batch} × ${w.context}, ${w.steps} steps, ${REPEATS} processes per mode`,
        );
        printTable(
          ['step', 'paced ms', 'plain ms', 'paced / plain'],
          paced.map((p, i) => [String(i + 1), p.toFixed(0), plain[i].toFixed(0), formatRatio(p / plain[i])]),
        );
        // steady = the second half of the run
        const steadyFrom = Math.floor(w.steps / 2);
        const steady = (mode: Mode, of: 'stepMs' | 'cpuMs') =>
          runs[mode][0][of].length === 0
            ? Number.NaN // no CPU time in a browser
            : median(runs[mode].map((r) => sum(r[of].slice(steadyFrom)) / (w.steps - steadyFrom)));
        const summary = {
          step3: { paced: paced[2], plain: plain[2], ratio: paced[2] / plain[2] },
          totalMs: {
            paced: median(runs.paced.map((r) => sum(r.stepMs))),
            plain: median(runs.plain.map((r) => sum(r.stepMs))),
          },
          steadyStepMs: { paced: steady('paced', 'stepMs'), plain: steady('plain', 'stepMs') },
          steadyCpuMsPerStep: { paced: steady('paced', 'cpuMs'), plain: steady('plain', 'cpuMs') },
          sleeps: median(runs.paced.map((r) => r.sleeps)),
          oversleeps: median(runs.paced.map((r) => r.oversleeps)),
          perStep: { paced, plain },
        };
        console.log(
          `step 3: ${formatRatio(summary.step3.ratio)} of plain; whole run ${summary.totalMs.paced.toFixed(0)} ms paced vs ${summary.totalMs.plain.toFixed(0)} ms plain; ` +
            `steady step ${summary.steadyStepMs.paced.toFixed(0)} vs ${summary.steadyStepMs.plain.toFixed(0)} ms, ` +
            `CPU ${summary.steadyCpuMsPerStep.paced.toFixed(0)} vs ${summary.steadyCpuMsPerStep.plain.toFixed(0)} ms per step; ` +
            `${summary.sleeps} sleeps, ${summary.oversleeps} overshot\n`,
        );
        results[`${environment.name}-${w.name}`] = summary;
      }
    }
    printErrorsAndLoad(errors, loadStart);
    writeResults('warmup', results);
  },
};

export default suite;
