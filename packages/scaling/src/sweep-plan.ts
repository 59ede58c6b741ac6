/**
 * Planning an isoFLOP sweep: for each compute budget C and each model of a ladder of sizes, the
 * run that spends C on that model, D = C / (6·N) tokens rounded to whole optimizer steps.
 * N is the total parameter count (Hoffmann et al.'s convention; tests check it equals
 * `GPT.numParameters()`).
 */
import type { GPTConfig } from '@kiln/transformer';
import { checkPositive, countGPT } from './count.js';
import { type ChinchillaLaw, lossAt } from './laws.js';
import { formatCompute } from './plots.js';

/** One planned training run. */
export interface PlannedRun {
  /** Directory-safe id, e.g. `C1e11-N84288`. */
  id: string;
  /** The budget it belongs to (FLOPs). */
  budget: number;
  config: GPTConfig;
  /** Total parameters N. */
  params: number;
  /** Optimizer steps. */
  steps: number;
  /** Training tokens D = steps · batchSize · contextLength. */
  tokens: number;
  /** 6 · N · D (close to the budget; off by the rounding to whole steps). */
  flops: number;
}

/** Options of {@link planSweep}. */
export interface SweepPlanOptions {
  /** Compute budgets in FLOPs. */
  budgets: readonly number[];
  /** The ladder of model sizes, each trained at every budget. */
  models: readonly GPTConfig[];
  /** Windows per optimizer step. */
  batchSize: number;
  /** Leave out runs shorter than this many steps (default 10): too short to say anything. */
  minSteps?: number;
  /** Leave out runs longer than this many steps (default: no limit). */
  maxSteps?: number;
}

/** The run that spends `budget` FLOPs on `config` (steps ≥ 1), with its id. */
export function planRun(budget: number, config: GPTConfig, batchSize: number, idPrefix = ''): PlannedRun {
  checkPositive('planRun: budget', budget);
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new RangeError(`planRun: batchSize must be a positive integer, got ${batchSize}`);
  const params = countGPT(config).totalParams;
  const tokensPerStep = batchSize * config.contextLength;
  const steps = Math.max(1, Math.round(budget / (6 * params) / tokensPerStep));
  const tokens = steps * tokensPerStep;
  return {
    id: `${idPrefix}C${formatCompute(budget)}-N${params}`,
    budget,
    config,
    params,
    steps,
    tokens,
    flops: 6 * params * tokens,
  };
}

/** Every (budget, model) run of a sweep that falls within the step limits, by budget then size. */
export function planSweep(options: SweepPlanOptions): PlannedRun[] {
  const { budgets, models, batchSize, minSteps = 10, maxSteps = Number.POSITIVE_INFINITY } = options;
  if (!Array.isArray(budgets) || budgets.length === 0)
    throw new RangeError('planSweep: give at least one budget');
  if (!Array.isArray(models) || models.length === 0)
    throw new RangeError('planSweep: give at least one model');
  const runs: PlannedRun[] = [];
  for (const budget of [...budgets].sort((a, b) => a - b)) {
    const forBudget = models
      .map((config) => planRun(budget, config, batchSize))
      .filter((r) => r.steps >= minSteps && r.steps <= maxSteps)
      .sort((a, b) => a.params - b.params);
    if (forBudget.length === 0) {
      throw new RangeError(
        `planSweep: at budget ${formatCompute(budget)} no model runs between ${minSteps} and ${maxSteps} steps; change the budget or the ladder`,
      );
    }
    runs.push(...forBudget);
  }
  const ids = new Set(runs.map((r) => r.id));
  if (ids.size !== runs.length)
    throw new RangeError('planSweep: two models of the ladder have the same parameter count');
  return runs;
}

/**
 * The candidate that a fitted law predicts to reach the lowest loss on `budget` FLOPs (D = C/6N
 * each): the compute-optimal model among those that can be built.
 */
export function pickOptimalModel(
  budget: number,
  candidates: readonly GPTConfig[],
  law: ChinchillaLaw,
  batchSize: number,
): { run: PlannedRun; predictedLoss: number } {
  if (candidates.length === 0) throw new RangeError('pickOptimalModel: no candidate models');
  let best: { run: PlannedRun; predictedLoss: number } | null = null;
  for (const config of candidates) {
    const run = planRun(budget, config, batchSize, 'verify-');
    const predictedLoss = lossAt(law, run.params, run.tokens);
    if (best === null || predictedLoss < best.predictedLoss) best = { run, predictedLoss };
  }
  return best!;
}
