// Training throughput of the default config (or --config) on each Kiln backend and in the
// PyTorch reference, measured in one script, alternating, so they share the machine's
// conditions: the numbers behind the default backend choice in README.md and the tokens/s in
// docs/pretraining.md. Kiln runs the real Trainer (AdamW, clipping, a read-back every 5 steps)
// without writing files; PyTorch runs scripts/reference/gpt.py on the same token file and config.
// Reported: the median over 5-step intervals (the first interval, with compilation, is skipped)
// of wall-clock tokens/s and, for Kiln, tokens per CPU-second of this process (on a busy machine
// wall time is inflated by other processes, CPU time much less so).
//
// `webgpu-mixed` and `cpu-mixed` are Kiln with train.precision 'mixed-float16' (float16 weights and
// activations, float32 masters, dynamic loss scaling).
//
//   pnpm --filter @kiln/example-pretrain bench -- [--backends cpu,webgpu,pytorch,webgpu-mixed] [--steps 30] [--rounds 2]
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, manualSeed } from '@kiln/tensor';
import { readMetrics, resolveTrainConfig, TokenDataset, Trainer } from '@kiln/trainer/node';
import { GPT } from '@kiln/transformer';
import { loadConfig, type PretrainConfig } from './config.js';
import { loadMobyDick } from './corpus.js';
import { tokensPerSecond } from './metrics-summary.js';
import { prepareData, TOKENS_FILE } from './prepare-data.js';
import { pytorchConfig } from './pytorch-config.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    config: { type: 'string' },
    backends: { type: 'string', default: 'cpu,webgpu,pytorch' },
    steps: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '2' },
  },
});
const base = process.env.INIT_CWD ?? process.cwd();
const config = await loadConfig(values.config && resolve(base, values.config));
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const python = process.env.KILN_PYTHON ?? '/usr/bin/python3';
const repoRoot = resolve(import.meta.dirname, '../../..');
const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
const { tokenizer, tokens: file } = await prepareData(scratch, await loadMobyDick(), config.data, () => {});
const data = new TokenDataset(file.tokens, { contextLength: config.model.contextLength });
const tokensPer5 =
  5 * (config.train.batchSize ?? 8) * (config.train.gradAccum ?? 1) * config.model.contextLength;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Kiln on `name`: per 5-step interval, wall tokens/s and tokens per CPU-second. */
async function kiln(
  name: 'cpu' | 'webgpu',
  precision: 'float32' | 'mixed-float16' = 'float32',
): Promise<{ wall: number[]; cpu: number[] }> {
  const backend = await initBackend(name);
  manualSeed(0);
  const model = new GPT({ ...config.model, vocabSize: tokenizer.vocabSize }, { backend });
  const train = resolveTrainConfig({
    ...config.train,
    steps,
    logInterval: 5,
    evalInterval: 1_000_000,
    evalWindows: 1,
    precision,
  });
  const out = { wall: [] as number[], cpu: [] as number[] };
  let last = { time: performance.now(), cpu: process.cpuUsage() };
  const trainer = new Trainer({
    model,
    data,
    config: train,
    progress: false,
    callbacks: {
      onLog: ({ step }) => {
        const now = { time: performance.now(), cpu: process.cpuUsage() };
        const cpuSeconds = (now.cpu.user - last.cpu.user + now.cpu.system - last.cpu.system) / 1e6;
        if (step > 5 && step % 5 === 0) {
          out.wall.push(tokensPer5 / ((now.time - last.time) / 1000));
          out.cpu.push(tokensPer5 / cpuSeconds);
        }
        last = now;
      },
    },
  });
  await trainer.train();
  model.dispose();
  return out;
}

/** gpt.py on the same tokens and config (AdamW decaying every matrix, as it always does): the median tokens/s of its log. */
async function pytorch(round: number): Promise<{ wall: number[]; cpu: number[] }> {
  const run: PretrainConfig = { ...config, train: { ...config.train, decayEmbeddings: true } };
  const { model, train } = pytorchConfig(run, tokenizer.vocabSize) as {
    model: object;
    train: Record<string, unknown>;
  };
  const schedule = { ...(train.schedule as object), totalSteps: steps };
  const cfgPath = join(scratch, `pytorch-${round}.json`);
  const outDir = join(scratch, `pytorch-${round}`);
  await writeFile(
    cfgPath,
    JSON.stringify({
      model,
      train: { ...train, steps, schedule, logInterval: 5, evalInterval: 1_000_000, evalWindows: 1 },
    }),
  );
  const gptPy = join(repoRoot, 'scripts/reference/gpt.py');
  const child = spawnSync(
    python,
    [gptPy, 'train', '--tokens', join(scratch, TOKENS_FILE), '--config', cfgPath, '--out', outDir],
    {
      encoding: 'utf8',
    },
  );
  if (child.status !== 0)
    throw new Error(`gpt.py failed (does ${python} have torch? set KILN_PYTHON):\n${child.stderr}`);
  // Skip the first interval (start-up), as for Kiln.
  const records = (await readMetrics(join(outDir, 'metrics.jsonl'))).filter((x) => x.step >= 5);
  return { wall: [tokensPerSecond(records)], cpu: [] };
}

const results = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 0; round < rounds; round++) {
  for (const name of values.backends.split(',')) {
    let r: { wall: number[]; cpu: number[] };
    if (name === 'pytorch') r = await pytorch(round);
    else if (name === 'cpu' || name === 'webgpu') r = await kiln(name);
    else if (name === 'cpu-mixed' || name === 'webgpu-mixed')
      r = await kiln(name === 'cpu-mixed' ? 'cpu' : 'webgpu', 'mixed-float16');
    else throw new Error(`unknown backend '${name}'; use cpu, webgpu, pytorch, cpu-mixed or webgpu-mixed`);
    const all = results.get(name) ?? { wall: [], cpu: [] };
    all.wall.push(...r.wall);
    all.cpu.push(...r.cpu);
    results.set(name, all);
    console.log(`round ${round + 1} ${name}: ${median(r.wall).toFixed(0)} tokens/s`);
  }
}
console.log(
  `\nmodel ${JSON.stringify(config.model)}, ${tokensPer5 / 5} tokens per step, ${steps} steps per run`,
);
for (const [name, r] of results) {
  const cpu = r.cpu.length > 0 ? `${median(r.cpu).toFixed(0).padStart(6)} tokens/CPU-s` : '';
  console.log(`${name.padEnd(13)} ${median(r.wall).toFixed(0).padStart(6)} tokens/s (median)  ${cpu}`);
}
await rm(scratch, { recursive: true, force: true });
