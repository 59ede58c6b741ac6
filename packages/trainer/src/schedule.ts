/**
 * Learning-rate schedules as pure functions of the step.
 *
 * `step` is the 0-based index of the optimizer step about to be taken. During warmup the rate
 * rises linearly as `maxLr · (step + 1) / warmupSteps`, so step 0 already trains and step
 * `warmupSteps - 1` reaches `maxLr`. Decay then runs from `maxLr` at step `warmupSteps` to `minLr`
 * at step `totalSteps`, and stays at `minLr` after that. `scripts/reference/gpt.py` implements
 * the same formulas, so Kiln and PyTorch runs use identical rates.
 */

/** A learning rate for each step. */
export type LrSchedule = (step: number) => number;

/** A constant rate, optionally after a linear warmup. */
export interface ConstantScheduleConfig {
  kind: 'constant';
  /** The learning rate. */
  lr: number;
  /** Steps of linear warmup from near 0 to `lr` (default 0). */
  warmupSteps?: number;
}

/** Linear warmup to `maxLr`, then a half-cosine decay to `minLr` at `totalSteps`. */
export interface CosineScheduleConfig {
  kind: 'cosine';
  /** Peak learning rate, reached at the end of warmup. */
  maxLr: number;
  /** Final learning rate (default 0; often `maxLr / 10`). */
  minLr?: number;
  /** Steps of linear warmup (default 0). */
  warmupSteps?: number;
  /** Step at which the decay reaches `minLr` (usually the run's total steps). */
  totalSteps: number;
}

/** Linear warmup to `maxLr`, then a straight-line decay to `minLr` at `totalSteps`. */
export interface LinearScheduleConfig {
  kind: 'linear';
  /** Peak learning rate, reached at the end of warmup. */
  maxLr: number;
  /** Final learning rate (default 0). */
  minLr?: number;
  /** Steps of linear warmup (default 0). */
  warmupSteps?: number;
  /** Step at which the decay reaches `minLr`. */
  totalSteps: number;
}

/** Any schedule as plain JSON (stored in a run's config and its checkpoints). */
export type ScheduleConfig = ConstantScheduleConfig | CosineScheduleConfig | LinearScheduleConfig;

function checkRate(value: unknown, name: string, kind: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${kind} schedule: ${name} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

function checkSteps(value: unknown, name: string, kind: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${kind} schedule: ${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

/** Rejects misspelt options (e.g. `warmup` for `warmupSteps`), which would otherwise be ignored silently. */
function checkKeys(options: object, allowed: readonly string[], kind: string): void {
  for (const key of Object.keys(options)) {
    if (key !== 'kind' && !allowed.includes(key)) {
      throw new TypeError(`${kind} schedule: unknown option '${key}'; the options are ${allowed.join(', ')}`);
    }
  }
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`learning-rate schedule: step must be a non-negative integer, got ${step}`);
  }
}

/** The warmup factor in (0, 1] for a step before the end of warmup. */
function warmupFactor(step: number, warmupSteps: number): number {
  return (step + 1) / warmupSteps;
}

/** A constant learning rate, optionally after a linear warmup. */
export function constantSchedule(options: Omit<ConstantScheduleConfig, 'kind'>): LrSchedule {
  checkKeys(options, ['lr', 'warmupSteps'], 'constant');
  const lr = checkRate(options.lr, 'lr', 'constant');
  const warmupSteps = checkSteps(options.warmupSteps ?? 0, 'warmupSteps', 'constant', 0);
  return (step) => {
    checkStep(step);
    return step < warmupSteps ? lr * warmupFactor(step, warmupSteps) : lr;
  };
}

/** Validates the options shared by the decaying schedules. */
function decayOptions(
  options: { maxLr: number; minLr?: number; warmupSteps?: number; totalSteps: number },
  kind: string,
): { maxLr: number; minLr: number; warmupSteps: number; totalSteps: number } {
  checkKeys(options, ['maxLr', 'minLr', 'warmupSteps', 'totalSteps'], kind);
  const maxLr = checkRate(options.maxLr, 'maxLr', kind);
  const minLr = checkRate(options.minLr ?? 0, 'minLr', kind);
  if (minLr > maxLr)
    throw new RangeError(`${kind} schedule: minLr (${minLr}) must not exceed maxLr (${maxLr})`);
  const warmupSteps = checkSteps(options.warmupSteps ?? 0, 'warmupSteps', kind, 0);
  const totalSteps = checkSteps(options.totalSteps, 'totalSteps', kind, 1);
  if (warmupSteps >= totalSteps) {
    throw new RangeError(
      `${kind} schedule: warmupSteps (${warmupSteps}) must be smaller than totalSteps (${totalSteps}) so there is a decay phase`,
    );
  }
  return { maxLr, minLr, warmupSteps, totalSteps };
}

/** Fraction of the decay phase completed at `step`, clamped to [0, 1]. */
function decayProgress(step: number, warmupSteps: number, totalSteps: number): number {
  return Math.min(1, Math.max(0, (step - warmupSteps) / (totalSteps - warmupSteps)));
}

/** Linear warmup to `maxLr`, then cosine decay to `minLr` at `totalSteps` (then constant). */
export function cosineSchedule(options: Omit<CosineScheduleConfig, 'kind'>): LrSchedule {
  const { maxLr, minLr, warmupSteps, totalSteps } = decayOptions(options, 'cosine');
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return maxLr * warmupFactor(step, warmupSteps);
    const progress = decayProgress(step, warmupSteps, totalSteps);
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}

/** Linear warmup to `maxLr`, then linear decay to `minLr` at `totalSteps` (then constant). */
export function linearSchedule(options: Omit<LinearScheduleConfig, 'kind'>): LrSchedule {
  const { maxLr, minLr, warmupSteps, totalSteps } = decayOptions(options, 'linear');
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return maxLr * warmupFactor(step, warmupSteps);
    const progress = decayProgress(step, warmupSteps, totalSteps);
    return maxLr + (minLr - maxLr) * progress;
  };
}

/** Builds a schedule from its JSON config; throws a clear error for an unknown `kind`. */
export function createSchedule(config: ScheduleConfig): LrSchedule {
  switch (config?.kind) {
    case 'constant':
      return constantSchedule(config);
    case 'cosine':
      return cosineSchedule(config);
    case 'linear':
      return linearSchedule(config);
    default:
      throw new TypeError(
        `createSchedule: unknown schedule kind ${JSON.stringify((config as { kind?: unknown })?.kind)}; use 'constant', 'cosine' or 'linear'`,
      );
  }
}
