// float32 vs mixed precision on the pretraining demo config: the same seed, data and steps,
// trained once with train.precision 'float32' and once with 'mixed-float16', in one process
// (float32 first), on one backend. Prints the loss curves side by side at every logged step,
// the validation losses, their relative differences, the skipped steps and the median training
// tokens/s of each run (the first log interval, with compilation and autotuning, left out).
// The numbers behind docs/performance.md's "Mixed precision" section.
//
// --noise adds a third run, float32 from the initial weights rounded once to float16, as a noise
// floor: how far two float32 runs drift apart from a perturbation of the size of one float16
// rounding (training is chaotic, so any numerical difference grows over the steps).
//
//   pnpm --filter @kiln/example-pretrain precision -- [--backend webgpu] [--steps 200] [--noise] [--config f.json] [--json out.json]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, manualSeed } from '@kiln/tensor';
import { type Precision, resolveTrainConfig, TokenDataset, Trainer } from '@kiln/trainer/node';
import { GPT } from '@kiln/transformer';
import { loadConfig, withSteps } from './config.js';
import { loadMobyDick } from './corpus.js';
import { prepareData } from './prepare-data.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    config: { type: 'string' },
    backend: { type: 'string', default: 'webgpu' },
    steps: { type: 'string', default: '200' },
    json: { type: 'string' },
    noise: { type: 'boolean', default: false },
  },
});
const backendName = values.backend;
if (backendName !== 'cpu' && backendName !== 'webgpu')
  throw new Error(`--backend must be cpu or webgpu, got '${backendName}'`);
const base = process.env.INIT_CWD ?? process.cwd();
const config = withSteps(
  await loadConfig(values.config && resolve(base, values.config)),
  Number(values.steps),
);
const scratch = await mkdtemp(join(tmpdir(), 'kiln-precision-'));
const { tokenizer, tokens: file } = await prepareData(scratch, await loadMobyDick(), config.data, () => {});
const backend = await initBackend(backendName);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

interface RunResult {
  losses: Map<number, number>;
  valLosses: Map<number, number>;
  tokensPerSecond: number[];
  /** Steps skipped by the loss scaler, with the scale after each. */
  skipped: { step: number; nextScale: number }[];
  seconds: number;
}

async function run(precision: Precision, perturbInit = false): Promise<RunResult> {
  const train = resolveTrainConfig({ ...config.train, precision, checkpointInterval: 0 });
  const data = new TokenDataset(file.tokens, {
    contextLength: config.model.contextLength,
    validationFraction: train.validationFraction,
  });
  manualSeed(train.seed);
  const model = new GPT({ ...config.model, vocabSize: tokenizer.vocabSize }, { backend });
  if (perturbInit) model.to('float16').to('float32');
  const out: RunResult = {
    losses: new Map(),
    valLosses: new Map(),
    tokensPerSecond: [],
    skipped: [],
    seconds: 0,
  };
  let logs = 0;
  const trainer = new Trainer({
    model,
    data,
    config: train,
    progress: false,
    callbacks: {
      onLog: (i) => {
        out.losses.set(i.step, i.loss);
        if (logs++ > 1) out.tokensPerSecond.push(i.tokensPerSecond); // skip steps 1 and the first interval
      },
      onEval: (e) => void out.valLosses.set(e.step, e.loss),
      onSkippedStep: (s) => void out.skipped.push({ step: s.step, nextScale: s.nextLossScale }),
    },
  });
  const result = await trainer.train();
  out.seconds = result.elapsedSeconds;
  model.dispose();
  return out;
}

const loadBefore = loadavg();
const f32 = await run('float32');
const mixed = await run('mixed-float16');
const noise = values.noise ? await run('float32', true) : undefined;
const loadAfter = loadavg();

const rel = (a: number, b: number) => a / b - 1;
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
console.log(
  `backend ${backend.name} (${backend.info.device}); ${config.train.steps} steps; model ${JSON.stringify(config.model)}`,
);
console.log('\nstep   loss f32   loss mixed   difference');
const diffs: number[] = [];
for (const [step, a] of f32.losses) {
  const b = mixed.losses.get(step);
  if (b === undefined) continue;
  diffs.push(rel(b, a));
  console.log(`${String(step).padStart(4)}   ${a.toFixed(4)}     ${b.toFixed(4)}       ${pct(rel(b, a))}`);
}
console.log('\nstep   val f32    val mixed    difference');
const valDiffs: number[] = [];
for (const [step, a] of f32.valLosses) {
  const b = mixed.valLosses.get(step);
  if (b === undefined) continue;
  valDiffs.push(rel(b, a));
  console.log(`${String(step).padStart(4)}   ${a.toFixed(4)}     ${b.toFixed(4)}       ${pct(rel(b, a))}`);
}
const maxAbs = (xs: number[]) => Math.max(...xs.map(Math.abs));
// One logged loss is one batch's: the mean over the last five logged steps is less noisy.
const lastMean = (m: Map<number, number>) => {
  const xs = [...m.values()].slice(-5);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
const meanAbs = (xs: number[]) => xs.reduce((s, x) => s + Math.abs(x), 0) / xs.length;
// The same differences for the noise-floor run, against float32.
const drift = (a: Map<number, number>, b: Map<number, number>) =>
  [...a].filter(([step]) => b.has(step)).map(([step, x]) => rel(b.get(step)!, x));
const noiseFloor = noise && {
  trainLossDifference: {
    maxAbs: maxAbs(drift(f32.losses, noise.losses)),
    meanAbs: meanAbs(drift(f32.losses, noise.losses)),
    lastFiveMean: rel(lastMean(noise.losses), lastMean(f32.losses)),
  },
  valLossDifference: drift(f32.valLosses, noise.valLosses),
};
if (noise) {
  console.log('\nnoise floor (float32 from float16-rounded initial weights) vs float32, validation:');
  for (const [step, a] of f32.valLosses) {
    const b = noise.valLosses.get(step);
    if (b !== undefined)
      console.log(
        `${String(step).padStart(4)}   ${a.toFixed(4)}     ${b.toFixed(4)}       ${pct(rel(b, a))}`,
      );
  }
}
const speed = { float32: median(f32.tokensPerSecond), mixed: median(mixed.tokensPerSecond) };
const summary = {
  backend: backend.name,
  device: backend.info.device,
  steps: config.train.steps,
  trainLossDifference: {
    maxAbs: maxAbs(diffs),
    meanAbs: meanAbs(diffs),
    lastFiveMean: rel(lastMean(mixed.losses), lastMean(f32.losses)),
  },
  valLossDifference: { maxAbs: maxAbs(valDiffs), final: valDiffs[valDiffs.length - 1] },
  skippedSteps: mixed.skipped,
  finalLossScale: mixed.skipped.at(-1)?.nextScale ?? resolveTrainConfig(config.train).lossScale.initScale,
  tokensPerSecond: speed,
  speedup: speed.mixed / speed.float32,
  seconds: { float32: f32.seconds, mixed: mixed.seconds },
  ...(noiseFloor ? { noiseFloor } : {}),
  loadAverage: { before: loadBefore, after: loadAfter },
};
console.log(
  `\ntrain loss |difference|: max ${pct(summary.trainLossDifference.maxAbs)}, mean ${pct(summary.trainLossDifference.meanAbs)}, of the mean of the last 5 logged steps ${pct(summary.trainLossDifference.lastFiveMean)}; validation: max ${pct(summary.valLossDifference.maxAbs)}, final ${pct(summary.valLossDifference.final)}`,
);
console.log(
  `tokens/s (median of log intervals): float32 ${speed.float32.toFixed(0)}, mixed ${speed.mixed.toFixed(0)} (${summary.speedup.toFixed(2)}×); skipped steps ${JSON.stringify(mixed.skipped)}`,
);
console.log(
  `load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`,
);
if (values.json) await writeFile(resolve(base, values.json), `${JSON.stringify(summary, null, 2)}\n`);
await rm(scratch, { recursive: true, force: true });
