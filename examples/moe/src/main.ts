// Mixture of experts on Moby Dick. Five runs on the same data and token budget:
//
//   dense-active  a dense GPT with the MoE's active parameters per token
//   dense-total   a dense GPT with the MoE's total parameters (reference)
//   moe-none      the MoE GPT without balancing
//   moe-aux       with the Switch auxiliary loss
//   moe-bias      with DeepSeek-V3's bias balancing (updateBalancingBias after each step)
//
// and it writes, under runs/moe/: val-loss.svg (every run's validation loss on one plot),
// load-<run>.svg (expert load per layer over training, a heatmap per MoE run), each run's
// trainer directory, and summary.json (validation loss, tokens/s, parameters, final load).
//
//   pnpm --filter @kiln/example-moe start                 (4 minutes on two shared cores, load 5–7)
//   pnpm --filter @kiln/example-moe start -- --steps 20   (a smoke run)
//   pnpm --filter @kiln/example-moe start -- --big        (d 128, 4 layers, 128 tokens: hours on a CPU)
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { moeLayers, updateBalancingBias } from '@kiln/moe';
import { type BackendChoice, init, manualSeed } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import {
  AdamW,
  defaultParamGroups,
  evaluate,
  type NamedParameter,
  type ParamGroup,
  renderLineChartSvg,
} from '@kiln/trainer';
import { TokenDataset, Trainer } from '@kiln/trainer/node';
import { GPT } from '@kiln/transformer';
import { mobyDickTokens } from './data.js';
import { type LoadHistory, loadCv, renderLoadHeatmapSvg } from './heatmap.js';
import { overrideScale, SCALES, variants } from './variants.js';

const USAGE = `usage: pnpm --filter @kiln/example-moe start -- [--steps N] [--batch N] [--lr X] [--seed N] [--big]
  [--set experts=16,topK=4,expertDFF=32,sharedExperts=1,routedScale=4,auxLoss=0.01,biasUpdateRate=0.01]
  [--mlp-lr-scale X] [--final-eval-windows N] [--backend cpu|webgpu] [--out DIR] [--only a,b]`;
const log = (line = '') => console.log(line);
/** The default run (see docs/moe.md for the search behind it). */
const DEFAULT_STEPS = 200;
const DEFAULT_BATCH = 8;
const DEFAULT_LR = 3e-3;
/**
 * The feed-forward matrices' learning rate over the schedule's, for every run alike: the
 * search found 3e-3 best for the rest of the model but the feed-forward blocks, dense and MoE,
 * kept improving up to about 4× that (docs/moe.md).
 */
const DEFAULT_MLP_LR_SCALE = 4;
/** Validation windows of the final, compared loss (the curve's evaluations use 16). */
const FINAL_EVAL_WINDOWS = 128;

/** A run's validation LM loss: the objective's loss less the auxiliary losses it added. */
function lmLoss(loss: number, metrics: Record<string, number>): number {
  let aux = 0;
  for (const [k, v] of Object.entries(metrics)) if (/\.mlp\.(balance|zloss)$/.test(k)) aux += v;
  return loss - aux;
}

/** Seconds of CPU (user + system) in a `process.cpuUsage` difference. */
function cpuTime(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

/** A feed-forward matrix: a dense MLP's, or an MoE's experts' and shared experts' (not the router). */
const FFN_MATRIX = /\.mlp\.(?!router\.)/;

/**
 * The trainer's default AdamW groups with the feed-forward matrices split into their own group
 * at `lrScale` times the schedule's learning rate (same weight decay), for dense and MoE alike.
 */
function mlpOptimizer(model: GPT, lrScale: number): AdamW {
  const groups: ParamGroup[] = [];
  for (const group of defaultParamGroups(model, { weightDecay: 0.1 })) {
    const named = group.params as NamedParameter[];
    const mlp = named.filter(([name]) => FFN_MATRIX.test(name));
    const rest = named.filter(([name]) => !FFN_MATRIX.test(name));
    if (rest.length) groups.push({ ...group, params: rest });
    if (mlp.length) groups.push({ ...group, params: mlp, lrScale });
  }
  return new AdamW(groups, { lr: 0, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    // `pnpm start -- --steps 20` passes the `--` on
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      steps: { type: 'string' },
      batch: { type: 'string' },
      big: { type: 'boolean', default: false },
      backend: { type: 'string' },
      out: { type: 'string', default: 'runs/moe' },
      only: { type: 'string' },
      set: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'mlp-lr-scale': { type: 'string' },
      'final-eval-windows': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return log(USAGE);
  const scale = overrideScale(SCALES[values.big ? 'big' : 'default'], values.set);
  const steps = Number(values.steps ?? (values.big ? 2000 : DEFAULT_STEPS));
  const batchSize = Number(values.batch ?? DEFAULT_BATCH);
  const seed = Number(values.seed ?? 1);
  const maxLr = Number(values.lr ?? DEFAULT_LR);
  const mlpLrScale = Number(values['mlp-lr-scale'] ?? DEFAULT_MLP_LR_SCALE);
  const finalEvalWindows = Number(values['final-eval-windows'] ?? FINAL_EVAL_WINDOWS);
  for (const [flag, v] of [
    ['--steps', steps],
    ['--batch', batchSize],
    ['--final-eval-windows', finalEvalWindows],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`${flag} must be a positive integer, got ${v}\n${USAGE}`);
  }
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`--seed must be an integer ≥ 0, got ${seed}\n${USAGE}`);
  for (const [flag, v] of [
    ['--lr', maxLr],
    ['--mlp-lr-scale', mlpLrScale],
  ] as const) {
    if (!(v > 0 && Number.isFinite(v)))
      throw new Error(`${flag} must be a positive number, got ${v}\n${USAGE}`);
  }
  const load0 = loadavg();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const base = process.env.INIT_CWD ?? process.cwd();
  const out = resolve(base, values.out);
  await mkdir(out, { recursive: true });
  const backend = await init({ backend: values.backend as BackendChoice | undefined });
  log(`backend: ${backend.name} (${backend.device})`);
  const root = resolve(import.meta.dirname, '../../..');
  const file = await mobyDickTokens(
    join(out, 'data'),
    [join(root, 'runs/scaling/data/moby-dick.kilntok')],
    log,
  );
  const vocabSize = file.header.vocabSize;
  const only = values.only?.split(',');
  const runs = variants(scale, vocabSize).filter((v) => !only || only.includes(v.name));
  const tokensPerStep = batchSize * scale.contextLength;
  log(
    `${runs.length} runs × ${steps} steps × ${tokensPerStep} tokens = ${steps * tokensPerStep} training tokens each`,
  );

  const results: Record<string, unknown> = {};
  const curves: { name: string; points: [number, number][] }[] = [];
  for (const v of runs) {
    manualSeed(seed);
    const model = new GPT(v.config);
    const data = new TokenDataset(file.tokens, {
      contextLength: scale.contextLength,
      validationFraction: 0.1,
    });
    const history = new Map<number, LoadHistory>();
    const moe = moeLayers(model);
    moe.forEach(([path]) => {
      history.set(history.size, { layer: path, steps: [], load: [] });
    });
    const rates: number[] = [];
    const curve: [number, number][] = [];
    const trainer = new Trainer({
      model,
      data,
      optimizer: mlpLrScale !== 1 ? mlpOptimizer(model, mlpLrScale) : undefined,
      outDir: join(out, v.name),
      progress: false,
      config: {
        steps,
        batchSize,
        schedule: {
          kind: 'cosine',
          maxLr,
          minLr: maxLr / 10,
          warmupSteps: Math.min(20, Math.ceil(steps / 10)),
        },
        evalInterval: Math.max(1, Math.round(steps / 8)),
        evalWindows: 16,
        evalBatchSize: 16,
        logInterval: Math.max(1, Math.round(steps / 40)),
        checkpointInterval: 0,
        seed,
      },
      callbacks: {
        onStep: v.biasBalancing ? () => updateBalancingBias(model) : undefined,
        onLog: (info) => {
          if (info.step > 1) rates.push(info.tokensPerSecond);
          moe.forEach(([path, layer], i) => {
            const h = history.get(i)!;
            h.steps.push(info.step);
            h.load.push(
              Array.from({ length: layer.options.experts }, (_, e) => info.metrics[`${path}.load.${e}`] ?? 0),
            );
          });
        },
        onEval: (info) => {
          curve.push([info.tokens, lmLoss(info.loss, info.metrics)]);
        },
      },
    });
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await trainer.train();
    const seconds = (performance.now() - start) / 1000;
    const cpuSeconds = cpuTime(process.cpuUsage(cpuStart));
    // the final number compared: more held-out windows than the curve's evaluations, the same
    // first windows for every run, so the runs differ only by their models
    const final = await evaluate(model, data, { batchSize: 16, maxWindows: finalEvalWindows });
    const valLoss = lmLoss(final.loss, final.metrics);
    const tokensPerSecond = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0;
    const finalLoad = [...history.values()].map((h) => h.load.at(-1) ?? []);
    results[v.name] = {
      label: v.label,
      totalParams: model.numParameters(),
      activeParams: model.activeParameters(),
      flopsPerToken: model.flopsPerToken(),
      valLoss: Number(valLoss.toFixed(4)),
      valLossTokens: final.tokens,
      valCurve: curve,
      tokensPerSecond: Math.round(tokensPerSecond),
      seconds: Math.round(seconds),
      cpuSeconds: Math.round(cpuSeconds),
      ...(finalLoad.length
        ? {
            finalLoad: finalLoad.map((l) => l.map((x) => Number(x.toFixed(4)))),
            finalMaxLoad: finalLoad.map((l) => Number(Math.max(...l).toFixed(4))),
            finalLoadCv: finalLoad.map((l) => Number(loadCv(l).toFixed(4))),
          }
        : {}),
    };
    curves.push({ name: v.label, points: curve });
    if (history.size > 0) {
      await writeFile(
        join(out, `load-${v.name}.svg`),
        renderLoadHeatmapSvg(`expert load over training: ${v.label}`, [...history.values()]),
      );
    }
    log(
      `${v.name.padEnd(13)} val loss ${valLoss.toFixed(4)}  ${Math.round(tokensPerSecond)} tokens/s  ${(model.numParameters() / 1e3).toFixed(0)}k total / ${(model.activeParameters() / 1e3).toFixed(0)}k active  ${Math.round(seconds)} s` +
        (finalLoad.length
          ? `  final max load ${finalLoad.map((l) => (Math.max(...l) * 100).toFixed(0)).join('/')}%`
          : ''),
    );
    model.dispose();
  }
  await writeFile(
    join(out, 'val-loss.svg'),
    renderLineChartSvg(curves, {
      title: 'Moby Dick: validation loss (LM only)',
      xLabel: 'training tokens',
      yLabel: 'loss (nats/token)',
    }),
  );
  const summary = {
    backend: backend.name,
    seed,
    steps,
    batchSize,
    tokensPerStep,
    maxLr,
    mlpLrScale,
    finalEvalWindows,
    scale,
    wallSeconds: Math.round((performance.now() - wall0) / 1000),
    cpuSeconds: Math.round(cpuTime(process.cpuUsage(cpu0))),
    loadAverage: {
      start: load0.map((x) => Number(x.toFixed(2))),
      end: loadavg().map((x) => Number(x.toFixed(2))),
    },
    runs: results,
  };
  await writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    `wrote ${out}/summary.json, val-loss.svg and load-<run>.svg (${summary.wallSeconds} s wall, ${summary.cpuSeconds} s CPU, load ${summary.loadAverage.start[0]} → ${summary.loadAverage.end[0]})`,
  );
}

main().catch((error: unknown) => {
  console.error(
    error instanceof Error ? (process.env.KILN_DEBUG ? error.stack : error.message) : String(error),
  );
  process.exit(1);
});
