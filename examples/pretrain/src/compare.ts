// Kiln vs PyTorch: helpers for scripts/compare-pytorch.sh.
//
//   compare.ts prepare --config <pretrain config.json> --out <dir>
//       trains the tokenizer and writes the token file into <dir>/data (as the example does), and
//       writes the same run as <dir>/pytorch-config.json for scripts/reference/gpt.py (model keys
//       renamed, the train keys gpt.py knows copied, Kiln-only keys dropped)
//   compare.ts report --kiln <run dir>[,…] --pytorch <run dir>[,…] --svg <out.svg>
//       prints a markdown table of validation loss at equal steps (differences against the
//       first PyTorch run) and writes the curves as SVG
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type MetricsRecord, readMetrics, renderLossCurveSvg } from '@kiln/trainer/node';
import { loadConfig } from './config.js';
import { loadMobyDick } from './corpus.js';
import { tokensPerSecond, trainLosses, valLosses } from './metrics-summary.js';
import { prepareData } from './prepare-data.js';
import { pytorchConfig } from './pytorch-config.js';

async function prepare(configPath: string, outDir: string): Promise<void> {
  const config = await loadConfig(configPath);
  const { tokenizer } = await prepareData(
    join(outDir, 'data'),
    await loadMobyDick(),
    config.data,
    console.log,
  );
  const outPath = join(outDir, 'pytorch-config.json');
  await writeFile(outPath, `${JSON.stringify(pytorchConfig(config, tokenizer.vocabSize), null, 2)}\n`);
  console.log(`wrote ${outPath}`);
}

interface Run {
  name: string;
  records: MetricsRecord[];
  reference: boolean;
}

async function readRun(dir: string, framework: string, reference: boolean): Promise<Run> {
  // runs/x/kiln-cpu → 'Kiln cpu', runs/x/pytorch → 'PyTorch'.
  const label = basename(dir).replace(/^(kiln|pytorch)-?/i, '');
  return {
    name: label ? `${framework} ${label}` : framework,
    records: await readMetrics(resolve(dir, 'metrics.jsonl')),
    reference,
  };
}

/**
 * Prints validation losses at the steps every run evaluated, each run's difference from the
 * reference (the first PyTorch run), how long the training losses stay equal, and the
 * throughput; writes the validation curves as an SVG.
 */
async function report(kilnDirs: string[], pytorchDirs: string[], svgPath: string): Promise<void> {
  const runs = [
    ...(await Promise.all(kilnDirs.map((dir) => readRun(dir, 'Kiln', false)))),
    ...(await Promise.all(pytorchDirs.map((dir, i) => readRun(dir, 'PyTorch', i === 0)))),
  ];
  const reference = runs.find((r) => r.reference)!;
  const others = runs.filter((r) => !r.reference);
  const losses = new Map(runs.map((r) => [r, valLosses(r.records)]));
  const ref = losses.get(reference)!;
  const steps = [...ref.keys()].filter((s) => runs.every((r) => losses.get(r)!.has(s))).sort((a, b) => a - b);
  console.log(
    `| step | ${runs.map((r) => r.name).join(' | ')} | ${others.map((r) => `${r.name} − ${reference.name}`).join(' | ')} |`,
  );
  console.log(`|${'---:|'.repeat(1 + runs.length + others.length)}`);
  for (const step of steps) {
    const cells = runs.map((r) => losses.get(r)!.get(step)!.toFixed(4));
    const diffs = others.map((r) => (losses.get(r)!.get(step)! - ref.get(step)!).toFixed(4));
    console.log(`| ${step} | ${cells.join(' | ')} | ${diffs.join(' | ')} |`);
  }
  console.log();
  // Training losses at the steps both logged: equal until rounding differences have grown.
  const refTrain = trainLosses(reference.records);
  for (const r of others) {
    const mine = trainLosses(r.records);
    const common = [...mine.keys()].filter((s) => refTrain.has(s)).sort((a, b) => a - b);
    const apart = common.findIndex((s) => Math.abs(mine.get(s)! - refTrain.get(s)!) >= 5e-4);
    const last = apart === -1 ? common.at(-1) : common[apart - 1];
    const meanDiff =
      common.slice(-10).reduce((sum, s) => sum + mine.get(s)! - refTrain.get(s)!, 0) /
      Math.min(10, common.length);
    console.log(
      `${r.name}: training loss equal to ${reference.name}'s to 4 decimals through step ${last ?? 'none'}${apart === -1 ? '' : ` (apart from step ${common[apart]})`}; mean difference over the last 10 logged steps ${meanDiff.toFixed(4)}`,
    );
  }
  for (const r of runs)
    console.log(`${r.name}: median ${tokensPerSecond(r.records).toFixed(0)} training tokens/s`);
  const svg = renderLossCurveSvg(
    runs.map((r) => ({
      name: r.name,
      points: [...losses.get(r)!].sort((a, b) => a[0] - b[0]),
      dashed: r.name.startsWith('PyTorch'),
    })),
    {
      title: 'Validation loss, Kiln vs PyTorch (same start, same batches)',
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
      throw new Error(
        'usage: compare.ts report --kiln <dir>[,<dir>…] --pytorch <dir>[,<dir>…] --svg <out.svg>',
      );
    const dirs = (list: string) => list.split(',').map((d) => resolve(base, d));
    await report(dirs(values.kiln), dirs(values.pytorch), resolve(base, values.svg));
  } else {
    throw new Error(`unknown command '${command}'; use prepare or report`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
