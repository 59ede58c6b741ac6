// Kiln vs PyTorch: helpers for scripts/compare-pytorch.sh.
//
//   compare.ts prepare --config <pretrain config.json> --out <dir>
//       trains the tokenizer and writes the token file into <dir>/data (as the example does), and
//       writes the same run as <dir>/pytorch-config.json for scripts/reference/gpt.py (model keys
//       renamed, the train keys gpt.py knows copied, Kiln-only keys dropped)
//   compare.ts report --kiln <run dir>[,<run dir>…] --pytorch <run dir> --svg <out.svg>
//       prints a markdown table of validation loss at equal steps and writes the curves as SVG
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type MetricsRecord, readMetrics, renderLossCurveSvg, resolveTrainConfig } from '@kiln/trainer';
import { loadConfig } from './config.js';
import { loadMobyDick } from './corpus.js';
import { prepareData } from './prepare-data.js';

/** Train keys that scripts/reference/gpt.py understands (its TRAIN_DEFAULTS). */
const PYTORCH_TRAIN_KEYS = [
  'seed',
  'batchSize',
  'steps',
  'gradAccum',
  'schedule',
  'weightDecay',
  'betas',
  'eps',
  'gradClip',
  'validationFraction',
  'evalInterval',
  'evalWindows',
  'evalBatchSize',
  'logInterval',
] as const;

async function prepare(configPath: string, outDir: string): Promise<void> {
  const config = await loadConfig(configPath);
  const { tokenizer } = await prepareData(
    join(outDir, 'data'),
    await loadMobyDick(),
    config.data,
    console.log,
  );
  const vocabSize = tokenizer.vocabSize;
  const outPath = join(outDir, 'pytorch-config.json');
  const train = resolveTrainConfig(config.train);
  if (train.optimizer !== 'adamw' || !train.decayEmbeddings) {
    throw new Error(
      'the PyTorch reference uses AdamW with weight decay on every matrix: set train.decayEmbeddings to true',
    );
  }
  const m = config.model;
  if (m.family !== 'gpt2' || (m.dropout ?? 0) !== 0)
    throw new Error('compare a gpt2-family model without dropout');
  const model = {
    arch: m.family,
    vocabSize,
    contextLength: m.contextLength,
    nLayer: m.nLayers,
    nHead: m.nHeads,
    dModel: m.dModel,
    ...(m.dFF === undefined ? {} : { dFf: m.dFF }),
    ...(m.normEps === undefined ? {} : { normEps: m.normEps }),
    tieEmbeddings: m.tieEmbeddings ?? true,
  };
  const trainOut = Object.fromEntries(PYTORCH_TRAIN_KEYS.map((k) => [k, train[k]]));
  await writeFile(outPath, `${JSON.stringify({ model, train: trainOut }, null, 2)}\n`);
  console.log(`wrote ${outPath}`);
}

function valLosses(records: MetricsRecord[]): Map<number, number> {
  return new Map(
    records.filter((r) => typeof r.valLoss === 'number').map((r) => [r.step, r.valLoss as number]),
  );
}

/**
 * Median training throughput of a run: Kiln records `tokensPerSecond` (evaluation excluded);
 * for gpt.py it is computed between consecutive log records, skipping intervals that contain
 * an evaluation (gpt.py evaluates at step s just before training step s + 1).
 */
function tokensPerSecond(records: MetricsRecord[]): number {
  const rows = records.filter((r) => typeof r.loss === 'number' && typeof r.elapsedSeconds === 'number');
  const evalSteps = [...valLosses(records).keys()];
  const rates: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]];
    if (typeof b.tokensPerSecond === 'number') {
      rates.push(b.tokensPerSecond);
      continue;
    }
    if (evalSteps.some((s) => a.step <= s && s < b.step)) continue;
    const dt = (b.elapsedSeconds as number) - (a.elapsedSeconds as number);
    if (dt > 0) rates.push(((b.tokens as number) - (a.tokens as number)) / dt);
  }
  rates.sort((x, y) => x - y);
  return rates.length === 0 ? Number.NaN : rates[Math.floor(rates.length / 2)];
}

async function report(kilnDirs: string[], pytorchDir: string, svgPath: string): Promise<void> {
  const runs = [
    ...(await Promise.all(
      kilnDirs.map(async (dir) => ({
        name: `Kiln (${basename(dir)})`,
        records: await readMetrics(resolve(dir, 'metrics.jsonl')),
      })),
    )),
    { name: 'PyTorch 1.13', records: await readMetrics(resolve(pytorchDir, 'metrics.jsonl')) },
  ];
  const losses = runs.map((r) => valLosses(r.records));
  const steps = [...losses[0].keys()].filter((s) => losses.every((l) => l.has(s))).sort((a, b) => a - b);
  const torch = losses.at(-1)!;
  const header = `| step | ${runs.map((r) => r.name).join(' | ')} | ${runs
    .slice(0, -1)
    .map((r) => `${r.name} − PyTorch`)
    .join(' | ')} |`;
  console.log(header);
  console.log(`|${'---:|'.repeat(1 + runs.length + runs.length - 1)}`);
  for (const step of steps) {
    const cells = losses.map((l) => l.get(step)!.toFixed(4));
    const diffs = losses.slice(0, -1).map((l) => (l.get(step)! - torch.get(step)!).toFixed(4));
    console.log(`| ${step} | ${cells.join(' | ')} | ${diffs.join(' | ')} |`);
  }
  console.log();
  // Training losses at the steps both logged: identical while the runs have not yet diverged.
  const trainLoss = (records: MetricsRecord[]) =>
    new Map(records.filter((r) => typeof r.loss === 'number').map((r) => [r.step, r.loss as number]));
  const torchTrain = trainLoss(runs.at(-1)!.records);
  for (const r of runs.slice(0, -1)) {
    const mine = trainLoss(r.records);
    const common = [...mine.keys()].filter((s) => torchTrain.has(s)).sort((a, b) => a - b);
    const firstApart = common.find((s) => Math.abs(mine.get(s)! - torchTrain.get(s)!) >= 5e-4);
    console.log(
      `${r.name}: training loss equal to PyTorch's to 4 decimals up to step ${firstApart === undefined ? common.at(-1) : `${common[common.indexOf(firstApart) - 1] ?? 0} (differs from step ${firstApart})`} of the ${common.length} logged steps`,
    );
  }
  for (const r of runs)
    console.log(`${r.name}: median ${tokensPerSecond(r.records).toFixed(0)} training tokens/s`);
  const svg = renderLossCurveSvg(
    runs.map((r, i) => ({
      name: `${r.name} validation`,
      points: [...losses[i]].sort((a, b) => a[0] - b[0]),
      dashed: i === runs.length - 1,
    })),
    {
      title: 'Validation loss: Kiln vs PyTorch (same data, config and batches)',
      xLabel: 'step',
      yLabel: 'validation loss (nats/token)',
    },
  );
  await mkdir(dirname(svgPath), { recursive: true });
  await writeFile(svgPath, svg);
  console.log(`wrote ${svgPath}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2).filter((a) => a !== '--');
  const base = process.env.INIT_CWD ?? process.cwd();
  if (command === 'prepare') {
    const { values } = parseArgs({
      args: rest,
      options: { config: { type: 'string' }, out: { type: 'string' } },
    });
    if (!values.config || !values.out)
      throw new Error('usage: compare.ts prepare --config <config.json> --out <dir>');
    await mkdir(resolve(base, values.out, 'data'), { recursive: true });
    await prepare(resolve(base, values.config), resolve(base, values.out));
  } else if (command === 'report') {
    const { values } = parseArgs({
      args: rest,
      options: { kiln: { type: 'string' }, pytorch: { type: 'string' }, svg: { type: 'string' } },
    });
    if (!values.kiln || !values.pytorch || !values.svg)
      throw new Error('usage: compare.ts report --kiln <dir>[,<dir>] --pytorch <dir> --svg <out.svg>');
    await report(
      values.kiln.split(',').map((d) => resolve(base, d)),
      resolve(base, values.pytorch),
      resolve(base, values.svg),
    );
  } else {
    throw new Error(`unknown command '${command}'; use prepare or report`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
