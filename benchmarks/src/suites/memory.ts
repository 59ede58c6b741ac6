// Long-run memory: a tiny GPT trained for 3,000 steps (BENCH_MEMORY_STEPS) with the Node
// Trainer on each backend (BENCH_MEMORY_BACKENDS, default cpu,webgpu), each in its own process
// (src/memory/long-run.ts), sampling RSS and the JS heap after a full GC. Passes when both grow
// by under 5% between step 1,000 and the last step: memory may rise while pools, caches and
// compiled code fill during the first hundreds of steps, but must then stay flat (issue 17).
// Results and method: docs/reliability.md#memory-over-long-runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { printTable, writeResults } from '../harness.js';
import type { Suite } from '../run.js';

const SCRIPT = join(import.meta.dirname, '..', 'memory', 'long-run.ts');
const LIMIT = 0.05;

interface Sample {
  step: number;
  rssMiB: number;
  heapUsedMiB: number;
}
interface LongRun {
  backend: string;
  device: string;
  steps: number;
  seconds: number;
  samples: Sample[];
  growth1000toEnd?: { rss: number; heapUsed: number };
}

const suite: Suite = {
  name: 'memory',
  async run() {
    const steps = process.env.BENCH_MEMORY_STEPS ?? '3000';
    const backends = (process.env.BENCH_MEMORY_BACKENDS ?? 'cpu,webgpu').split(',');
    const results: LongRun[] = [];
    for (const backend of backends) {
      console.log(`${backend}: ${steps} steps…`);
      const r = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          '--conditions=@kiln/source',
          '--import',
          'tsx',
          SCRIPT,
          '--backend',
          backend,
          '--steps',
          steps,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 },
      );
      const line = r.stdout.split('\n').find((l) => l.startsWith('LONG_RUN_JSON '));
      if (r.status !== 0 || !line) {
        console.log(`${backend}: failed (exit ${r.status})\n${r.stdout.slice(-2000)}`);
        process.exitCode = 1;
        continue;
      }
      results.push(JSON.parse(line.slice('LONG_RUN_JSON '.length)) as LongRun);
    }
    const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);
    const at = (run: LongRun, step: number, key: 'rssMiB' | 'heapUsedMiB') =>
      String(run.samples.find((s) => s.step === step)?.[key] ?? '–');
    const last = (run: LongRun) => run.samples.at(-1)!.step;
    printTable(
      [
        'backend',
        'RSS MiB @1 / 1000 / last',
        'heap MiB @1 / 1000 / last',
        'growth 1000→last (RSS, heap)',
        'verdict',
      ],
      results.map((run) => {
        const g = run.growth1000toEnd;
        const ok = g !== undefined && g.rss < LIMIT && g.heapUsed < LIMIT;
        if (!ok) process.exitCode = 1;
        return [
          `${run.backend} (${run.seconds.toFixed(0)} s)`,
          `${at(run, 1, 'rssMiB')} / ${at(run, 1000, 'rssMiB')} / ${at(run, last(run), 'rssMiB')}`,
          `${at(run, 1, 'heapUsedMiB')} / ${at(run, 1000, 'heapUsedMiB')} / ${at(run, last(run), 'heapUsedMiB')}`,
          `${pct(g?.rss)}, ${pct(g?.heapUsed)}`,
          g === undefined ? 'needs ≥ 1000 steps' : ok ? 'flat (< 5%)' : 'GROWS',
        ];
      }),
    );
    console.log(`BENCH_JSON ${JSON.stringify({ suite: 'memory', results })}`);
    writeResults('memory', results);
  },
};
export default suite;
