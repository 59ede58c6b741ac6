// `sweep`: an isoFLOP sweep on Moby Dick with @kiln/scaling's runSweep, then a summary.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { countGPT, formatCompute, runSweep } from '@kiln/scaling/node';
import { init } from '@kiln/tensor';
import { bytesPerToken } from '@kiln/trainer/node';
import type { GPTConfig } from '@kiln/transformer';
import type { SweepArgs } from './args.js';
import { mobyDickTokens, VOCAB_SIZE } from './data.js';

const CONTEXT = 64;

/**
 * A GPT-2-style model of the ladder: heads of about 16 dimensions and untied embeddings. Tied
 * embeddings (GPT-2's default) sat on the unigram plateau (≈ 5.2 nats) for the first 200–500
 * steps at these widths, longer the wider the model, so a run's loss measured how soon it left
 * the plateau rather than N and D; untied, the output table learns bigrams from the first steps
 * (README, "A measured failure").
 */
export function ladderModel(dModel: number, nLayers: number): GPTConfig {
  return {
    family: 'gpt2',
    vocabSize: VOCAB_SIZE,
    contextLength: CONTEXT,
    nLayers,
    nHeads: Math.max(1, Math.round(dModel / 16)),
    dModel,
    tieEmbeddings: false,
  };
}

/** The ladder: 4.6k to 33k parameters (see README for why these sizes). */
export const LADDER: GPTConfig[] = [
  ladderModel(4, 1),
  ladderModel(6, 1),
  ladderModel(8, 1),
  ladderModel(12, 1),
  ladderModel(16, 1),
  ladderModel(24, 1),
];

/** What the verification run may use: the ladder and two larger models. */
export const VERIFY_MODELS: GPTConfig[] = [...LADDER, ladderModel(32, 1), ladderModel(48, 1)];

/** Runs shorter than this are left out: the first ~100 steps are the warm-up and the unigram fit. */
export const MIN_STEPS = 100;

export async function sweep(args: SweepArgs, base: string, log: (line?: string) => void): Promise<void> {
  const outDir = join(base, args.out);
  await mkdir(join(outDir, 'data'), { recursive: true });
  const info = await init({ backend: args.backend });
  log(`backend: ${info.name} (${info.device})`);
  const { file } = await mobyDickTokens(
    join(outDir, 'data'),
    [join(base, 'runs/pretrain/moby-dick.kilntok')],
    log,
  );
  log(
    `data: ${file.tokens.length} tokens (${bytesPerToken(file.header)?.toFixed(2)} bytes/token), last 10% held out`,
  );
  log(
    `ladder: ${LADDER.map((c) => `${(countGPT(c).totalParams / 1e3).toFixed(1)}k`).join(', ')} parameters; budgets ${args.budgets.map(formatCompute).join(', ')}; verify at ${formatCompute(args.verify)}`,
  );
  const stop = new AbortController();
  process.once('SIGINT', () => {
    log('\nstopping after this step (run the same command again to continue)…');
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const started = performance.now();
  const outcome = await runSweep({
    outDir,
    tokens: file.tokens,
    bytesPerToken: bytesPerToken(file.header),
    budgets: args.budgets,
    models: LADDER,
    batchSize: args.batchSize,
    schedule: { max: 1e-2, min: 1e-3, warmupFraction: 0.05 },
    train: { evalWindows: 64, evalBatchSize: 32 },
    verify: { budget: args.verify, models: VERIFY_MODELS },
    minSteps: MIN_STEPS,
    fit: { bootstrap: args.bootstrap },
    log,
    signal: stop.signal,
  });
  if (outcome.stopped) {
    log('stopped; run the same command again to continue (finished runs are reused)');
    return;
  }
  const s = outcome.summary;
  const f = s.fit;
  log();
  log(
    `fitted: L(N, D) = ${f.E.toFixed(3)} + ${f.A.toPrecision(4)}/N^${f.alpha.toFixed(3)} + ${f.B.toPrecision(4)}/D^${f.beta.toFixed(3)}`,
  );
  if (f.intervals) {
    log(
      `  95% bootstrap intervals: ${(['E', 'A', 'B', 'alpha', 'beta'] as const).map((k) => `${k} ${f.intervals![k][0].toPrecision(3)}–${f.intervals![k][1].toPrecision(3)}`).join(', ')}`,
    );
  }
  if (s.computeOptimal.exponents) {
    const { a, b } = s.computeOptimal.exponents;
    log(
      `compute-optimal: N ∝ C^${a.toFixed(2)}, D ∝ C^${b.toFixed(2)}; tokens per parameter ${s.computeOptimal.perBudget.map((p) => `${p.tokensPerParameter.toFixed(1)} at ${formatCompute(p.C)}`).join(', ')}`,
    );
  }
  log(
    `measured best per budget: ${s.measuredBest.map((m) => `${formatCompute(m.C)}: N ${m.N} (${m.tokensPerParameter.toFixed(1)} tokens/param) loss ${m.loss.toFixed(3)}`).join('; ')}`,
  );
  if (s.prediction) {
    const p = s.prediction;
    log(
      `prediction at ${formatCompute(p.budget)}: ${p.predictedLoss.toFixed(4)}${p.predictedInterval ? ` (95% ${p.predictedInterval[0].toFixed(3)}–${p.predictedInterval[1].toFixed(3)})` : ''}, measured ${p.measuredLoss.toFixed(4)}: error ${p.error >= 0 ? '+' : ''}${p.error.toFixed(4)} nats (${(100 * p.relativeError).toFixed(1)}%)`,
    );
  }
  log(
    `wall clock ${((performance.now() - started) / 1000).toFixed(0)} s (training ${s.trainingSeconds.toFixed(0)} s)`,
  );
  log(`wrote ${outDir}/: summary.json, ${s.plots.join(', ')}, runs/<id>/ (checkpoints, metrics, loss.svg)`);
}
