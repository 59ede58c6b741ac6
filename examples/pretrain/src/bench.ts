// Training throughput of the default config (or --config) on each backend: the numbers behind
// the default backend choice in README.md. Uses the real Trainer (AdamW, clipping, read-back
// every 5 steps) without writing files, and reports the median over 5-step intervals of wall
// time and of this process's CPU time (user + system; on a busy machine wall time is inflated
// by other processes, CPU time much less so).
//
//   pnpm --filter @kiln/example-pretrain bench -- [--backends cpu,webgpu] [--steps 30] [--rounds 2]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, manualSeed } from '@kiln/tensor';
import { resolveTrainConfig, TokenDataset, Trainer } from '@kiln/trainer';
import { GPT } from '@kiln/transformer';
import { loadConfig } from './config.js';
import { loadMobyDick } from './corpus.js';
import { prepareData } from './prepare-data.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    config: { type: 'string' },
    backends: { type: 'string', default: 'cpu,webgpu' },
    steps: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '2' },
  },
});
const config = await loadConfig(values.config);
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
const { tokenizer, tokens: file } = await prepareData(scratch, await loadMobyDick(), config.data, () => {});
const data = new TokenDataset(file.tokens, { contextLength: config.model.contextLength });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 0; round < rounds; round++) {
  for (const name of values.backends.split(',') as ('cpu' | 'webgpu')[]) {
    const backend = await initBackend(name);
    manualSeed(0);
    const model = new GPT({ ...config.model, vocabSize: tokenizer.vocabSize }, { backend });
    const train = resolveTrainConfig({
      ...config.train,
      steps,
      logInterval: 5,
      evalInterval: 1_000_000,
      evalWindows: 1,
    });
    let last = { time: performance.now(), cpu: process.cpuUsage() };
    const entry = results.get(name) ?? { wall: [], cpu: [] };
    const tokensPer5 = 5 * train.batchSize * train.gradAccum * config.model.contextLength;
    const trainer = new Trainer({
      model,
      data,
      config: train,
      progress: false,
      callbacks: {
        onLog: ({ step }) => {
          const now = { time: performance.now(), cpu: process.cpuUsage() };
          const cpuSeconds = (now.cpu.user - last.cpu.user + now.cpu.system - last.cpu.system) / 1e6;
          // The first interval includes compilation and warm-up.
          if (step > 5 && step % 5 === 0) {
            entry.wall.push(tokensPer5 / ((now.time - last.time) / 1000));
            entry.cpu.push(tokensPer5 / cpuSeconds);
          }
          last = now;
        },
      },
    });
    await trainer.train();
    results.set(name, entry);
    model.dispose();
    const r = results.get(name)!;
    console.log(
      `round ${round + 1} ${name}: median ${median(r.wall).toFixed(0)} tokens/s wall, ${median(r.cpu).toFixed(0)} tokens per CPU-second`,
    );
  }
}
console.log(`\nconfig: ${JSON.stringify(config.model)}, batch ${config.train.batchSize}`);
for (const [name, r] of results) {
  const stepSeconds = ((config.train.batchSize ?? 8) * config.model.contextLength) / median(r.wall);
  console.log(
    `${name.padEnd(7)} ${median(r.wall).toFixed(0).padStart(6)} tokens/s (wall, median of ${r.wall.length})  ${median(r.cpu).toFixed(0).padStart(6)} tokens/CPU-s  ${stepSeconds.toFixed(2)} s/step`,
  );
}
await rm(scratch, { recursive: true, force: true });
