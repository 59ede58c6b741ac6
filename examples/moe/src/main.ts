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
//   pnpm --filter @kiln/example-moe start                 (about 10 minutes on two cores)
//   pnpm --filter @kiln/example-moe start -- --steps 20   (a smoke run)
//   pnpm --filter @kiln/example-moe start -- --big        (d 128, 4 layers, 128 tokens: hours on a CPU)
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { moeLayers, updateBalancingBias } from '@kiln/moe';
import { type BackendChoice, init, manualSeed } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import { renderLineChartSvg } from '@kiln/trainer';
import { TokenDataset, Trainer } from '@kiln/trainer/node';
import { GPT } from '@kiln/transformer';
import { mobyDickTokens } from './data.js';
import { type LoadHistory, loadCv, renderLoadHeatmapSvg } from './heatmap.js';
import { SCALES, variants } from './variants.js';

const USAGE = `usage: pnpm --filter @kiln/example-moe start -- [--steps N] [--batch N] [--big] [--backend cpu|webgpu] [--out DIR] [--only a,b]`;
const log = (line = '') => console.log(line);

/** A run's validation LM loss: the objective's loss less the auxiliary losses it added. */
function lmLoss(loss: number, metrics: Record<string, number>): number {
  let aux = 0;
  for (const [k, v] of Object.entries(metrics)) if (/\.mlp\.(balance|zloss)$/.test(k)) aux += v;
  return loss - aux;
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
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return log(USAGE);
  const scale = SCALES[values.big ? 'big' : 'default'];
  const steps = Number(values.steps ?? (values.big ? 2000 : 80));
  const batchSize = Number(values.batch ?? 8);
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`--steps and --batch must be positive integers\n${USAGE}`);
  }
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
    manualSeed(1);
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
      outDir: join(out, v.name),
      progress: false,
      config: {
        steps,
        batchSize,
        schedule: {
          kind: 'cosine',
          maxLr: 3e-3,
          minLr: 3e-4,
          warmupSteps: Math.min(20, Math.ceil(steps / 10)),
        },
        evalInterval: Math.max(1, Math.round(steps / 8)),
        evalWindows: 16,
        evalBatchSize: 16,
        logInterval: Math.max(1, Math.round(steps / 40)),
        checkpointInterval: 0,
        seed: 1,
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
    await trainer.train();
    const seconds = (performance.now() - start) / 1000;
    const tokensPerSecond = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0;
    const finalLoad = [...history.values()].map((h) => h.load.at(-1) ?? []);
    results[v.name] = {
      label: v.label,
      totalParams: model.numParameters(),
      activeParams: model.activeParameters(),
      flopsPerToken: model.flopsPerToken(),
      valLoss: curve.at(-1)?.[1] ?? null,
      valCurve: curve,
      tokensPerSecond: Math.round(tokensPerSecond),
      seconds: Math.round(seconds),
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
      `${v.name.padEnd(13)} val loss ${curve.at(-1)?.[1].toFixed(4)}  ${Math.round(tokensPerSecond)} tokens/s  ${(model.numParameters() / 1e3).toFixed(0)}k total / ${(model.activeParameters() / 1e3).toFixed(0)}k active  ${Math.round(seconds)} s` +
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
  const summary = { backend: backend.name, steps, batchSize, tokensPerStep, scale, runs: results };
  await writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(`wrote ${out}/summary.json, val-loss.svg and load-<run>.svg`);
}

main().catch((error: unknown) => {
  console.error(
    error instanceof Error ? (process.env.KILN_DEBUG ? error.stack : error.message) : String(error),
  );
  process.exit(1);
});
