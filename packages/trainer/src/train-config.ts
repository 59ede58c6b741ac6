/**
 * The training configuration: plain JSON, stored in every checkpoint. The keys shared with
 * `scripts/reference/gpt.py`'s `train` section have the same names, meanings and defaults, so
 * one file can configure a Kiln run and a PyTorch reference run.
 */
import { LOSS_SCALE_DEFAULTS, type LossScaleConfig, resolveLossScaleConfig } from './loss-scaler.js';
import { createSchedule, type ScheduleConfig } from './schedule.js';

/** Numeric precision of training steps: all float32, or float16 weights and activations with float32 masters. */
export type Precision = 'float32' | 'mixed-float16';

/** Every training hyperparameter. See {@link TRAIN_DEFAULTS} for the defaults. */
export interface TrainConfig {
  /** Seed of the training-window sampler (the model's initial weights are seeded by the caller). */
  seed: number;
  /** Windows per micro-batch. */
  batchSize: number;
  /** Optimizer steps in the run. */
  steps: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  gradAccum: number;
  /** Learning-rate schedule; a decaying schedule without `totalSteps` decays over `steps`. */
  schedule: ScheduleConfig;
  /** `adamw` (default) or `sgd`. Kiln only. */
  optimizer: 'adamw' | 'sgd';
  /** Weight decay of the decayed parameter group. */
  weightDecay: number;
  /** AdamW β1, β2. */
  betas: [number, number];
  /** AdamW epsilon. */
  eps: number;
  /** SGD momentum (Kiln only). */
  momentum: number;
  /** SGD Nesterov momentum (Kiln only). */
  nesterov: boolean;
  /** Decay embedding tables too, as nanoGPT and gpt.py do (Kiln only; default false). */
  decayEmbeddings: boolean;
  /** Clip gradients to this global norm; 0 disables clipping. */
  gradClip: number;
  /** Fraction of the tokens held out for validation (used when building the dataset). */
  validationFraction: number;
  /** Evaluate every this many steps (and at step 0 and at the end). */
  evalInterval: number;
  /** Validation windows per evaluation (the first ones, the same every time). */
  evalWindows: number;
  /** Windows per evaluation forward pass. */
  evalBatchSize: number;
  /** Read back, check and log the loss every this many steps. */
  logInterval: number;
  /** Save a checkpoint every this many steps (and at the end); 0 saves only at the end. Kiln only. */
  checkpointInterval: number;
  /** Checkpoints to keep (the most recent). Kiln only. */
  keepCheckpoints: number;
  /**
   * `float32` (default), or `mixed-float16`: the forward and backward run on a float16 copy of
   * the weights (activations float16, float32 accumulation in every kernel) while the float32
   * weights and AdamW moments are what the optimizer updates and checkpoints save; the loss is
   * scaled dynamically (`lossScale`), and a step whose gradients overflow is skipped. Needs a
   * backend that stores float16 (WebGPU: `shader-f16`). Kiln only.
   */
  precision: Precision;
  /** Dynamic loss scaling of `mixed-float16` (ignored for `float32`). Kiln only. */
  lossScale: LossScaleConfig;
}

/** A config file's `train` section: any subset of {@link TrainConfig}; the schedule may omit `totalSteps`. */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'schedule' | 'lossScale'>> & {
  schedule?: DistributiveOmit<ScheduleConfig, 'totalSteps'> & { totalSteps?: number };
  lossScale?: Partial<LossScaleConfig>;
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The defaults; the keys gpt.py knows have gpt.py's defaults, except that the default schedule
 * (cosine 6e-4 → 6e-5) decays over `steps` with `min(100, steps / 10)` warmup steps.
 */
export const TRAIN_DEFAULTS: Readonly<TrainConfig> = Object.freeze<TrainConfig>({
  seed: 1337,
  batchSize: 8,
  steps: 1000,
  gradAccum: 1,
  schedule: { kind: 'cosine', maxLr: 6e-4, minLr: 6e-5, warmupSteps: 100, totalSteps: 1000 },
  optimizer: 'adamw',
  weightDecay: 0.1,
  betas: [0.9, 0.95],
  eps: 1e-8,
  momentum: 0.9,
  nesterov: false,
  decayEmbeddings: false,
  gradClip: 1.0,
  validationFraction: 0.1,
  evalInterval: 100,
  evalWindows: 64,
  evalBatchSize: 8,
  logInterval: 10,
  checkpointInterval: 0,
  keepCheckpoints: 3,
  precision: 'float32',
  lossScale: { ...LOSS_SCALE_DEFAULTS },
});

const INTEGER_KEYS = [
  'seed',
  'batchSize',
  'steps',
  'gradAccum',
  'evalInterval',
  'evalWindows',
  'evalBatchSize',
  'logInterval',
  'checkpointInterval',
  'keepCheckpoints',
] as const;
/** The integer keys that must also be at least 1 (a seed or a checkpoint interval may be 0). */
const POSITIVE_KEYS = INTEGER_KEYS.filter((key) => key !== 'seed' && key !== 'checkpointInterval');

/**
 * Fills in the defaults and validates: unknown keys (usually misspellings), non-integers,
 * out-of-range values and an invalid schedule are errors that name the key.
 */
export function resolveTrainConfig(input: TrainConfigInput = {}): TrainConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TypeError(`train config must be an object, got ${JSON.stringify(input)}`);
  }
  const unknown = Object.keys(input).filter((k) => !(k in TRAIN_DEFAULTS));
  if (unknown.length > 0) {
    throw new TypeError(
      `train config: unknown key(s) ${unknown.join(', ')}; known keys: ${Object.keys(TRAIN_DEFAULTS).join(', ')}`,
    );
  }
  const steps = input.steps ?? TRAIN_DEFAULTS.steps;
  const merged = { ...TRAIN_DEFAULTS, ...input } as TrainConfig;
  // The default schedule, or one given without totalSteps, decays over the whole run.
  const schedule = (input.schedule ?? {
    kind: 'cosine',
    maxLr: 6e-4,
    minLr: 6e-5,
    warmupSteps: Math.min(100, Math.floor(steps / 10)),
  }) as ScheduleConfig;
  const hasTotal =
    schedule.kind === 'constant' || (schedule as { totalSteps?: number }).totalSteps !== undefined;
  merged.schedule = hasTotal ? { ...schedule } : ({ ...schedule, totalSteps: steps } as ScheduleConfig);
  for (const key of INTEGER_KEYS) {
    const v = merged[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`train config: ${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  for (const key of POSITIVE_KEYS) {
    if (merged[key] < 1) throw new RangeError(`train config: ${key} must be at least 1, got ${merged[key]}`);
  }
  for (const key of ['weightDecay', 'eps', 'gradClip', 'momentum'] as const) {
    const v = merged[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new RangeError(`train config: ${key} must be a finite number ≥ 0, got ${JSON.stringify(v)}`);
  }
  const { betas, validationFraction, optimizer } = merged;
  if (
    !Array.isArray(betas) ||
    betas.length !== 2 ||
    !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)
  ) {
    throw new RangeError(`train config: betas must be two numbers in [0, 1), got ${JSON.stringify(betas)}`);
  }
  if (typeof validationFraction !== 'number' || !(validationFraction > 0 && validationFraction < 1)) {
    throw new RangeError(
      `train config: validationFraction must be in (0, 1) (the trainer evaluates on held-out tokens), got ${JSON.stringify(validationFraction)}`,
    );
  }
  if (optimizer !== 'adamw' && optimizer !== 'sgd')
    throw new RangeError(
      `train config: optimizer must be 'adamw' or 'sgd', got ${JSON.stringify(optimizer)}`,
    );
  for (const key of ['nesterov', 'decayEmbeddings'] as const) {
    if (typeof merged[key] !== 'boolean')
      throw new TypeError(`train config: ${key} must be true or false, got ${JSON.stringify(merged[key])}`);
  }
  if (merged.precision !== 'float32' && merged.precision !== 'mixed-float16')
    throw new RangeError(
      `train config: precision must be 'float32' or 'mixed-float16', got ${JSON.stringify(merged.precision)}`,
    );
  merged.lossScale = resolveLossScaleConfig(input.lossScale ?? {}, 'train config: lossScale');
  try {
    createSchedule(merged.schedule);
  } catch (error) {
    throw new RangeError(`train config: invalid schedule: ${(error as Error).message}`);
  }
  return merged;
}
