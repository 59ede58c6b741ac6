// GRPOConfig: every setting of a GRPO (or RLOO) run, with its default and where it comes from.
import type { ScheduleConfig } from '@kiln/trainer';
import type { AdvantageScale, GRPOLossType } from './losses/grpo.js';

/** The settings of {@link GRPOTrainer}; every field has a default (see {@link GRPO_DEFAULTS}). */
export interface GRPOConfig {
  /** Prompts per step, B. */
  promptsPerStep: number;
  /** Completions per prompt, G (DeepSeekMath: 64; TRL's `num_generations`: 8). */
  groupSize: number;
  /** Most completion tokens, the end-of-turn token included. */
  maxCompletionTokens: number;
  /** Sampling temperature of the rollouts (TRL: 1). */
  temperature: number;
  topK?: number;
  topP?: number;
  /** Learning rate schedule (default constant 1e-6, TRL's `learning_rate`; small models want far more). */
  schedule: ScheduleConfig;
  /** Global gradient-norm clip (TRL: 1). */
  gradClip: number;
  /** AdamW weight decay (TRL: 0). */
  weightDecay: number;
  /** β of the k3 KL penalty (TRL: 0; DeepSeekMath: 0.04). The KL is logged either way when there is a reference. */
  beta: number;
  /** ε_low of the clip (TRL and DeepSeekMath: 0.2). */
  epsilon: number;
  /** ε_high (default ε_low; DAPO: 0.28). */
  epsilonHigh?: number;
  /** The loss normalisation (see `grpoLoss`; default `grpo`, DeepSeekMath's). */
  lossType: GRPOLossType;
  /** How the centred rewards are scaled (TRL's `scale_rewards`: `group`; Dr. GRPO: `none`). */
  scaleRewards: AdvantageScale;
  /** `grpo`: group-normalised advantages; `rloo`: leave-one-out baseline (then `scaleRewards` is ignored). */
  advantage: 'grpo' | 'rloo';
  /** Optimisation passes over each batch of rollouts, μ (TRL's `num_iterations`: 1). */
  iterations: number;
  /**
   * DAPO's dynamic sampling (Yu et al. 2025): drop the groups whose rewards all agree (every
   * completion right, or every one wrong: zero advantage, no learning signal, yet they dilute the
   * loss's average and cost a forward and backward pass) and sample groups for fresh prompts
   * until `promptsPerStep` informative groups are collected or `maxSamplingRounds` rounds of
   * `promptsPerStep` prompts were drawn. The step then optimises on the informative groups only
   * (fewer than `promptsPerStep` when the rounds ran out; none: no update). Default false.
   */
  dynamicSampling: boolean;
  /** Most rollout rounds per step under {@link dynamicSampling} (DAPO's `max_num_gen_batches`; default 3). */
  maxSamplingRounds: number;
  /** Rows per micro-batch of the optimisation (default: all B·G rows in one). */
  microBatchSize?: number;
  /** Seed of the prompt order and the sampling. */
  seed: number;
}

/** The defaults: TRL's `GRPOConfig` where it has one, DeepSeekMath's otherwise. */
export const GRPO_DEFAULTS: GRPOConfig = {
  promptsPerStep: 8,
  groupSize: 8,
  maxCompletionTokens: 16,
  temperature: 1,
  schedule: { kind: 'constant', lr: 1e-6 },
  gradClip: 1,
  weightDecay: 0,
  beta: 0,
  epsilon: 0.2,
  lossType: 'grpo',
  scaleRewards: 'group',
  advantage: 'grpo',
  iterations: 1,
  dynamicSampling: false,
  maxSamplingRounds: 3,
  seed: 0,
};

/** `input` over the defaults, checked; errors name the field. */
export function resolveGRPOConfig(input: Partial<GRPOConfig> = {}): GRPOConfig {
  const c: GRPOConfig = { ...GRPO_DEFAULTS, ...input };
  const int = (name: keyof GRPOConfig, min: number) => {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new RangeError(`GRPOConfig: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
    }
  };
  int('promptsPerStep', 1);
  int('groupSize', 2);
  int('maxCompletionTokens', 1);
  int('iterations', 1);
  int('maxSamplingRounds', 1);
  if (typeof c.dynamicSampling !== 'boolean') {
    throw new TypeError(
      `GRPOConfig: dynamicSampling must be true or false, got ${String(c.dynamicSampling)}`,
    );
  }
  int('seed', 0);
  if (c.microBatchSize !== undefined) int('microBatchSize', 1);
  for (const name of ['temperature', 'epsilon', 'gradClip', 'weightDecay', 'beta'] as const) {
    if (!(Number.isFinite(c[name]) && c[name] >= 0)) {
      throw new RangeError(`GRPOConfig: ${name} must be a finite number ≥ 0, got ${String(c[name])}`);
    }
  }
  if (!(c.temperature > 0))
    throw new RangeError('GRPOConfig: temperature must be > 0 (the loss needs sampled rollouts)');
  if (!['grpo', 'dr_grpo', 'dapo'].includes(c.lossType)) {
    throw new RangeError(
      `GRPOConfig: lossType must be 'grpo', 'dr_grpo' or 'dapo', got ${String(c.lossType)}`,
    );
  }
  if (!['grpo', 'rloo'].includes(c.advantage)) {
    throw new RangeError(`GRPOConfig: advantage must be 'grpo' or 'rloo', got ${String(c.advantage)}`);
  }
  return c;
}
