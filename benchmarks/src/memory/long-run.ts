// One long training run of a tiny GPT on one backend, sampling the process's memory as it goes:
// RSS, the JS heap after a full garbage collection, external/array-buffer bytes, and Kiln's own
// `memory()` (live tensors, the backend's pool). It answers "does memory plateau or grow without
// bound over thousands of steps?" (issue 17, item 5); the `memory` suite runs it once per
// backend, each in its own process so one backend's RSS does not leak into the other's.
//
//   node --expose-gc --conditions=@kiln/source --import tsx benchmarks/src/memory/long-run.ts \
//     --backend cpu --steps 3000 [--out results/memory-cpu.json]
//
// The run is the real Node `Trainer` with an `outDir` (metrics log every 10 steps, a validation
// and a checkpoint every 500), so the metrics writer, the plot and checkpoint saves are part of
// what is measured, not only the step.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { init, manualSeed, memory } from '@kiln/tensor';
import { TokenDataset, Trainer } from '@kiln/trainer/node';
import { GPT } from '@kiln/transformer';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu' },
    steps: { type: 'string', default: '3000' },
    out: { type: 'string' },
  },
});
const backendChoice = values.backend as 'cpu' | 'webgpu';
const steps = Number(values.steps);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc)
  throw new Error('long-run: run node with --expose-gc (the heap is measured after a full collection)');

/** One memory sample. */
interface Sample {
  step: number;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  liveTensors: number;
  backend: unknown;
}

const MiB = 1024 * 1024;
function sample(step: number): Sample {
  gc!();
  const m = process.memoryUsage();
  const kiln = memory();
  return {
    step,
    rssMiB: round(m.rss / MiB),
    heapUsedMiB: round(m.heapUsed / MiB),
    heapTotalMiB: round(m.heapTotal / MiB),
    externalMiB: round(m.external / MiB),
    arrayBuffersMiB: round(m.arrayBuffers / MiB),
    liveTensors: kiln.liveTensors,
    backend: kiln.backends[backendChoice],
  };
}
function round(x: number): number {
  return Math.round(x * 10) / 10;
}

const info = await init({ backend: backendChoice });
manualSeed(0);
const vocabSize = 64;
const contextLength = 32;
const tokens = new Uint16Array(20_000);
for (let i = 0; i < tokens.length; i++) tokens[i] = (i * 7 + ((i * i) % 13)) % vocabSize;
const data = new TokenDataset(tokens, { contextLength, validationFraction: 0.1 });
const model = new GPT({ family: 'gpt2', vocabSize, contextLength, nLayers: 2, nHeads: 2, dModel: 32 });
const outDir = mkdtempSync(join(tmpdir(), `kiln-long-run-${backendChoice}-`));
// Dense early (pools and caches fill), then every 500 steps.
const at = new Set([1, 10, 100, 250, 750, steps]);
for (let step = 500; step <= steps; step += 500) at.add(step);
const samples: Sample[] = [];
const start = performance.now();
const trainer = new Trainer({
  model,
  data,
  outDir,
  progress: false,
  config: {
    steps,
    batchSize: 4,
    logInterval: Math.min(10, steps),
    evalInterval: Math.min(500, steps),
    evalWindows: 8,
    checkpointInterval: Math.min(500, steps),
    keepCheckpoints: 1,
    schedule: { kind: 'cosine', maxLr: 3e-3, minLr: 3e-4, warmupSteps: Math.min(50, steps - 1) },
  },
  callbacks: {
    onStep: (s) => {
      if (!at.has(s.step)) return;
      const x = sample(s.step);
      samples.push(x);
      const seconds = ((performance.now() - start) / 1000).toFixed(0);
      console.log(
        `${backendChoice} step ${s.step}: rss ${x.rssMiB} MiB, heap ${x.heapUsedMiB} MiB, external ${x.externalMiB} MiB, live tensors ${x.liveTensors}, ${seconds} s`,
      );
    },
  },
});
const result = await trainer.train();
rmSync(outDir, { recursive: true, force: true });

const s1000 = samples.find((s) => s.step === 1000);
const last = samples.at(-1)!;
const growth = (a: number, b: number) => (b - a) / a;
const summary = {
  backend: info.name,
  device: (info as { device?: unknown }).device,
  steps: result.step,
  seconds: round((performance.now() - start) / 1000),
  finalLoss: result.loss,
  samples,
  growth1000toEnd: s1000
    ? { rss: growth(s1000.rssMiB, last.rssMiB), heapUsed: growth(s1000.heapUsedMiB, last.heapUsedMiB) }
    : undefined,
};
console.log(`LONG_RUN_JSON ${JSON.stringify(summary)}`);
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(summary, null, 2)}\n`);
}
model.dispose();
