/**
 * The sweep lab (Node only): train a ladder of model sizes at each of several compute budgets on
 * one token file, each run in its own resumable directory; fit L(N, D) = E + A/N^α + B/D^β to
 * the final validation losses; predict the loss of a larger run, train it, and compare.
 *
 * ```
 * <outDir>/
 *   runs/<id>/            one directory per run: the trainer's checkpoints/, metrics.jsonl,
 *                         loss.svg, plus plan.json (what the run is) and result.json (when done)
 *   isoflop.svg           loss against N per budget, with the fitted law's curves
 *   frontier.svg          compute-optimal N against C: fitted, the Epoch law, measured best
 *   loss-vs-compute.svg   loss against C: runs, best per budget, fitted frontier, prediction
 *   summary.json          fitted coefficients, compute-optimal tokens per parameter, predicted vs measured
 * ```
 *
 * A run whose `result.json` matches its plan is reused, not retrained; a run with checkpoints
 * but no result resumes from the latest one; a run whose plan changed starts over.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { manualSeed } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import {
  crc32,
  formatDuration,
  resolveTrainConfig,
  type TokenArray,
  TokenDataset,
  type TrainConfigInput,
  Trainer,
} from '@kiln/trainer/node';
import { GPT, type GPTConfig } from '@kiln/transformer';
import { type ChinchillaFit, type FitOptions, fitScalingLaw } from './fit.js';
import { type ChinchillaLaw, computeOptimal, EPOCH_2024, lossAt, optimalExponents } from './laws.js';
import { formatCompute, renderFrontierSvg, renderIsoFlopSvg, renderLossVsComputeSvg } from './plots.js';
import { type PlannedRun, pickOptimalModel, planSweep } from './sweep-plan.js';

/** The learning-rate schedule of every run: cosine from `max` to `min`, warmup a fraction of the run. */
export interface SweepSchedule {
  max: number;
  min: number;
  /** Warmup steps as a fraction of the run's steps (default 0.05, at least 1 step). */
  warmupFraction?: number;
}

/** Options of {@link runSweep}. */
export interface SweepOptions {
  /** Where the runs, plots and summary go. */
  outDir: string;
  /** One token file's tokens; the last `validationFraction` is held out for the final losses. */
  tokens: TokenArray;
  /** Average bytes per token, to report bits per byte in each run's metrics. */
  bytesPerToken?: number;
  /** Compute budgets (FLOPs) of the sweep. */
  budgets: readonly number[];
  /** The ladder of model sizes (GPT configs; their vocabSize must cover the tokens). */
  models: readonly GPTConfig[];
  /** Windows per step (default 8). */
  batchSize?: number;
  /** Default cosine 1e-2 → 1e-3, 5% warmup. */
  schedule?: SweepSchedule;
  /**
   * More training settings for every run (weightDecay, gradClip, evalWindows, evalBatchSize,
   * validationFraction, seed, …); steps, schedule, batch size and the intervals are the sweep's.
   */
  train?: Omit<TrainConfigInput, 'steps' | 'schedule' | 'batchSize' | 'evalInterval' | 'checkpointInterval'>;
  /** Seed of every model's initial weights (default 1337). */
  seed?: number;
  /** Leave out runs shorter than this many steps (default 10). */
  minSteps?: number;
  /**
   * Predict, then verify: the budget of the verification run (above every sweep budget) and the
   * models it may use (default: the ladder). False: no verification run.
   */
  verify?: { budget: number; models?: readonly GPTConfig[] } | false;
  /** Fit settings (default: bootstrap 200, Besiroglu et al.'s grid, seed 0). */
  fit?: Pick<FitOptions, 'grid' | 'bootstrap' | 'seed' | 'confidence'>;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
  /** Stops after the current step of the current run (with a checkpoint); rerun to continue. */
  signal?: AbortSignal;
}

/** A finished run. */
export interface SweepRunResult {
  id: string;
  budget: number;
  params: number;
  tokens: number;
  steps: number;
  flops: number;
  config: GPTConfig;
  /** Final validation loss (nats/token). */
  valLoss: number;
  /** Training seconds (across resumes). */
  seconds: number;
  /** True when the finished result was found on disk and reused. */
  reused: boolean;
}

/** The verification run: predicted before training, measured after. */
export interface SweepPrediction {
  budget: number;
  run: SweepRunResult;
  /** lossAt(fit, N, D) for the run's N and D. */
  predictedLoss: number;
  /** Central bootstrap interval of the prediction. */
  predictedInterval: [number, number] | null;
  measuredLoss: number;
  /** measured − predicted. */
  error: number;
  /** |error| / measured. */
  relativeError: number;
  /** The measured loss lies in the interval. */
  withinInterval: boolean | null;
  /** The continuous compute-optimal N and D of the fitted law at this budget (null when the fit has no optimum). */
  lawOptimum: { N: number; D: number; tokensPerParameter: number } | null;
}

/** What `summary.json` holds (and {@link runSweep} returns). */
export interface SweepSummary {
  data: { tokens: number; trainTokens: number; validationTokens: number; fingerprint: string };
  budgets: number[];
  runs: SweepRunResult[];
  fit: {
    E: number;
    A: number;
    B: number;
    alpha: number;
    beta: number;
    objective: number;
    pointsUsed: number;
    intervals: ChinchillaFit['intervals'] | null;
    standardErrors: ChinchillaFit['standardErrors'] | null;
  };
  /** N_opt ∝ C^a, D_opt ∝ C^b of the fitted law, and its compute-optimal split at each budget. */
  computeOptimal: {
    exponents: { a: number; b: number } | null;
    perBudget: { C: number; N: number; D: number; tokensPerParameter: number; loss: number }[];
  };
  /** The lowest-loss run of each budget. */
  measuredBest: { C: number; N: number; D: number; loss: number; tokensPerParameter: number }[];
  prediction: SweepPrediction | null;
  plots: string[];
  /** Seconds this call spent training (reused runs cost nothing). */
  trainingSeconds: number;
}

/** What {@link runSweep} returns. */
export type SweepOutcome = { stopped: false; summary: SweepSummary } | { stopped: true; summary: null };

interface RunContext {
  outDir: string;
  tokens: TokenArray;
  fingerprint: string;
  bytesPerToken?: number;
  batchSize: number;
  schedule: Required<SweepSchedule>;
  train: SweepOptions['train'];
  seed: number;
  signal?: AbortSignal;
}

/** The training config of a run (what its plan.json records and its result must match). */
function runTrainConfig(run: PlannedRun, ctx: RunContext): TrainConfigInput {
  const warmupSteps = Math.max(1, Math.round(run.steps * ctx.schedule.warmupFraction));
  return {
    evalWindows: 64,
    evalBatchSize: 32,
    weightDecay: 0.1,
    gradClip: 1,
    ...ctx.train,
    steps: run.steps,
    batchSize: ctx.batchSize,
    schedule: {
      kind: 'cosine',
      maxLr: ctx.schedule.max,
      minLr: ctx.schedule.min,
      warmupSteps: Math.min(warmupSteps, run.steps),
    },
    evalInterval: run.steps, // the final loss is what the fit needs
    logInterval: Math.min(10, run.steps),
    checkpointInterval: Math.max(1, Math.ceil(run.steps / 4)),
    keepCheckpoints: 1,
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Trains one run (or reuses / resumes it); null when stopped by the signal. */
async function trainRun(run: PlannedRun, ctx: RunContext): Promise<SweepRunResult | null> {
  const dir = join(ctx.outDir, 'runs', run.id);
  const config = resolveTrainConfig(runTrainConfig(run, ctx));
  const plan = JSON.stringify({ model: run.config, train: config, seed: ctx.seed, data: ctx.fingerprint });
  const planPath = join(dir, 'plan.json');
  const resultPath = join(dir, 'result.json');
  const previousPlan = await readJson(planPath);
  if (previousPlan !== undefined && JSON.stringify(previousPlan) !== plan) {
    await rm(dir, { recursive: true, force: true }); // the run changed: its checkpoints are of another run
  } else if (previousPlan !== undefined) {
    const done = (await readJson(resultPath)) as { valLoss?: number; seconds?: number } | undefined;
    if (typeof done?.valLoss === 'number' && typeof done.seconds === 'number') {
      return { ...summariseRun(run), valLoss: done.valLoss, seconds: done.seconds, reused: true };
    }
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(planPath, `${plan}\n`);
  manualSeed(ctx.seed);
  const model = new GPT(run.config);
  try {
    const data = new TokenDataset(ctx.tokens, {
      contextLength: run.config.contextLength,
      validationFraction: config.validationFraction,
    });
    const trainer = new Trainer({
      model,
      data,
      config,
      outDir: dir,
      bytesPerToken: ctx.bytesPerToken,
      runConfig: { model: run.config as never, budget: run.budget },
      progress: false,
      signal: ctx.signal,
      plotTitle: `${run.id}: ${run.params} parameters, ${run.tokens} tokens`,
    });
    await trainer.resume();
    const result = await trainer.train();
    if (result.stopped) return null;
    // A run resumed from its final checkpoint trains no step and so does not evaluate: do it here.
    const valLoss = result.validation?.loss ?? (await trainer.evaluate()).loss;
    const finished = { valLoss, seconds: result.elapsedSeconds };
    await writeFileAtomic(
      resultPath,
      `${JSON.stringify({ ...finished, params: run.params, tokens: run.tokens, steps: run.steps }, null, 2)}\n`,
    );
    return { ...summariseRun(run), ...finished, reused: false };
  } finally {
    model.dispose();
  }
}

function summariseRun(run: PlannedRun): Omit<SweepRunResult, 'valLoss' | 'seconds' | 'reused'> {
  return {
    id: run.id,
    budget: run.budget,
    params: run.params,
    tokens: run.tokens,
    steps: run.steps,
    flops: run.flops,
    config: run.config,
  };
}

function compact(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return String(n);
}

function tokenFingerprint(tokens: TokenArray): string {
  const ints = Int32Array.from(tokens as ArrayLike<number>);
  return `${ints.length}:${crc32(new Uint8Array(ints.buffer)).toString(16).padStart(8, '0')}`;
}

function percentile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function optimumOrNull(C: number, law: ChinchillaLaw) {
  try {
    return computeOptimal(C, law);
  } catch {
    return null; // a fit with a non-positive exponent has no interior optimum
  }
}

/**
 * Runs the sweep (see the module comment): trains or reuses every run, fits the law, predicts and
 * verifies a larger run, and writes the plots and `summary.json`. The caller picks the backend
 * (`init()` from `@kiln/tensor`) before calling.
 */
export async function runSweep(options: SweepOptions): Promise<SweepOutcome> {
  const log = options.log ?? ((line: string) => console.log(line));
  const batchSize = options.batchSize ?? 8;
  const runs = planSweep({
    budgets: options.budgets,
    models: options.models,
    batchSize,
    minSteps: options.minSteps,
  });
  const verify = options.verify ?? false;
  const maxBudget = Math.max(...options.budgets);
  if (verify && !(verify.budget > maxBudget)) {
    throw new RangeError(
      `runSweep: verify.budget (${formatCompute(verify.budget)}) must be above every sweep budget (largest ${formatCompute(maxBudget)}): the point is to predict beyond the data`,
    );
  }
  const schedule = { warmupFraction: 0.05, ...(options.schedule ?? { max: 1e-2, min: 1e-3 }) };
  const fingerprint = tokenFingerprint(options.tokens);
  const ctx: RunContext = {
    outDir: options.outDir,
    tokens: options.tokens,
    fingerprint,
    bytesPerToken: options.bytesPerToken,
    batchSize,
    schedule,
    train: options.train,
    seed: options.seed ?? 1337,
    signal: options.signal,
  };
  await mkdir(options.outDir, { recursive: true });

  // Overall ETA from the FLOP rate of the runs trained in this call (the verification run included).
  // The verification run's FLOPs are its budget until its model is picked (then its own).
  let totalFlops = runs.reduce((s, r) => s + r.flops, 0) + (verify ? verify.budget : 0);
  let doneFlops = 0;
  let sessionFlops = 0;
  let sessionSeconds = 0;
  const total = runs.length + (verify ? 1 : 0);
  const progress = (index: number, run: PlannedRun, result: SweepRunResult, seconds: number) => {
    doneFlops += run.flops;
    if (!result.reused) {
      sessionFlops += run.flops;
      sessionSeconds += seconds;
    }
    const left = Math.max(0, totalFlops - doneFlops);
    const eta =
      index === total
        ? 'done'
        : sessionFlops > 0
          ? `ETA ${formatDuration((left / sessionFlops) * sessionSeconds * 1000)}`
          : 'ETA —';
    log(
      `[${String(index).padStart(String(total).length)}/${total}] C ${formatCompute(run.budget)}  N ${compact(run.params).padStart(6)}  D ${compact(run.tokens).padStart(6)} (${run.steps} steps)  val loss ${result.valLoss.toFixed(4)}  ${result.reused ? 'reused' : `${seconds.toFixed(1)} s`}  · ${Math.round((100 * doneFlops) / totalFlops)}% of FLOPs, ${eta}`,
    );
  };

  const results: SweepRunResult[] = [];
  let trainingSeconds = 0;
  for (const [i, run] of runs.entries()) {
    const start = performance.now();
    const result = await trainRun(run, ctx);
    if (!result) return { stopped: true, summary: null };
    const seconds = (performance.now() - start) / 1000;
    if (!result.reused) trainingSeconds += seconds;
    results.push(result);
    progress(i + 1, run, result, seconds);
  }

  // Fit L(N, D) to the final validation losses.
  const fit = fitScalingLaw(
    results.map((r) => ({ N: r.params, D: r.tokens, loss: r.valLoss })),
    { bootstrap: 200, ...options.fit },
  );
  const law = fit.law;
  log(
    `fit: L(N, D) = ${law.E.toFixed(3)} + ${law.A.toPrecision(4)}/N^${law.alpha.toFixed(3)} + ${law.B.toPrecision(4)}/D^${law.beta.toFixed(3)}  (${fit.pointsUsed} runs)`,
  );
  const budgets = [...new Set(runs.map((r) => r.budget))].sort((a, b) => a - b);
  const hasOptimum = law.alpha > 0 && law.beta > 0;
  const perBudget = hasOptimum
    ? budgets.map((C) => {
        const o = computeOptimal(C, law);
        return { C, N: o.N, D: o.D, tokensPerParameter: o.tokensPerParameter, loss: o.loss };
      })
    : [];
  const measuredBest = budgets.map((C) => {
    const best = results.filter((r) => r.budget === C).reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    return {
      C,
      N: best.params,
      D: best.tokens,
      loss: best.valLoss,
      tokensPerParameter: best.tokens / best.params,
    };
  });

  // Predict, then verify.
  let prediction: SweepPrediction | null = null;
  if (verify) {
    const candidates = verify.models ?? options.models;
    const { run, predictedLoss } = pickOptimalModel(verify.budget, candidates, law, batchSize);
    totalFlops += run.flops - verify.budget;
    const samples = (fit.samples ?? []).map((s) => lossAt(s, run.params, run.tokens)).filter(Number.isFinite);
    samples.sort((a, b) => a - b);
    const confidence = options.fit?.confidence ?? 0.95;
    const interval: [number, number] | null =
      samples.length > 1
        ? [percentile(samples, (1 - confidence) / 2), percentile(samples, (1 + confidence) / 2)]
        : null;
    log(
      `predict: at C ${formatCompute(verify.budget)} the fit picks N ${compact(run.params)}, D ${compact(run.tokens)} and predicts val loss ${predictedLoss.toFixed(4)}${interval ? ` (${Math.round(confidence * 100)}% interval ${interval[0].toFixed(3)}–${interval[1].toFixed(3)})` : ''}; training it…`,
    );
    const start = performance.now();
    const result = await trainRun(run, ctx);
    if (!result) return { stopped: true, summary: null };
    const seconds = (performance.now() - start) / 1000;
    if (!result.reused) trainingSeconds += seconds;
    progress(total, run, result, seconds);
    const error = result.valLoss - predictedLoss;
    const optimum = optimumOrNull(verify.budget, law);
    prediction = {
      budget: verify.budget,
      run: result,
      predictedLoss,
      predictedInterval: interval,
      measuredLoss: result.valLoss,
      error,
      relativeError: Math.abs(error) / result.valLoss,
      withinInterval: interval ? result.valLoss >= interval[0] && result.valLoss <= interval[1] : null,
      lawOptimum: optimum
        ? { N: optimum.N, D: optimum.D, tokensPerParameter: optimum.tokensPerParameter }
        : null,
    };
    log(
      `verify: predicted ${predictedLoss.toFixed(4)}, measured ${result.valLoss.toFixed(4)} (error ${error >= 0 ? '+' : ''}${error.toFixed(4)}, ${(100 * prediction.relativeError).toFixed(1)}%)`,
    );
  }

  // Plots.
  const plotRuns = results.map((r) => ({ C: r.budget, N: r.params, D: r.tokens, loss: r.valLoss }));
  const plots: [string, string][] = [
    ['isoflop.svg', renderIsoFlopSvg(plotRuns, law, 'IsoFLOP curves: measured (solid) and fitted (dashed)')],
    [
      'frontier.svg',
      renderFrontierSvg({
        laws: [
          ...(hasOptimum ? [{ name: 'this sweep', law }] : []),
          { name: 'Epoch refit of Chinchilla', law: EPOCH_2024 },
        ],
        measured: measuredBest,
        marks: prediction
          ? [{ name: 'verification run', C: prediction.budget, N: prediction.run.params }]
          : [],
      }),
    ],
    [
      'loss-vs-compute.svg',
      renderLossVsComputeSvg({
        runs: plotRuns,
        law: hasOptimum ? law : undefined,
        prediction: prediction
          ? { C: prediction.budget, predicted: prediction.predictedLoss, measured: prediction.measuredLoss }
          : undefined,
      }),
    ],
  ];
  for (const [name, svg] of plots) await writeFileAtomic(join(options.outDir, name), svg);

  const data = new TokenDataset(options.tokens, {
    contextLength: options.models[0].contextLength,
    validationFraction: resolveTrainConfig(options.train ?? {}).validationFraction,
  });
  const summary: SweepSummary = {
    data: {
      tokens: options.tokens.length,
      trainTokens: data.trainTokens,
      validationTokens: data.validationTokens,
      fingerprint,
    },
    budgets,
    runs: results,
    fit: {
      E: law.E,
      A: law.A,
      B: law.B,
      alpha: law.alpha,
      beta: law.beta,
      objective: fit.objective,
      pointsUsed: fit.pointsUsed,
      intervals: fit.intervals ?? null,
      standardErrors: fit.standardErrors ?? null,
    },
    computeOptimal: { exponents: hasOptimum ? optimalExponents(law) : null, perBudget },
    measuredBest,
    prediction,
    plots: plots.map(([name]) => name),
    trainingSeconds,
  };
  await writeFileAtomic(join(options.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return { stopped: false, summary };
}
