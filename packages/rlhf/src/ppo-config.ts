// PPOConfig: every setting of a PPO run, with its default and where it comes from.
import type { ScheduleConfig } from '@kiln/trainer';
import type { KLEstimator } from './losses/kl.js';

/** The settings of {@link PPOTrainer}; every field has a default (see {@link PPO_DEFAULTS}). */
export interface PPOConfig {
  /** Prompts (= rollouts) per step. */
  promptsPerStep: number;
  /** Most completion tokens, the end-of-turn token included. */
  maxCompletionTokens: number;
  /** Sampling temperature (TRL's PPO: 0.7). */
  temperature: number;
  /** Policy learning rate schedule (TRL: 3e-6 constant). */
  schedule: ScheduleConfig;
  /** Value model learning rate schedule (default: the policy's). */
  valueSchedule?: ScheduleConfig;
  /** Passes over each batch of rollouts (TRL `num_ppo_epochs`: 4). */
  ppoEpochs: number;
  /** Minibatches per pass (TRL `num_mini_batches`: 1). */
  numMiniBatches: number;
  /** β of the per-token KL penalty in the reward (TRL `kl_coef`: 0.05; InstructGPT: 0.02). */
  klCoef: number;
  /** The per-token KL estimator of the penalty (TRL: `k1`). */
  klEstimator: KLEstimator;
  /** ε of the ratio clip (0.2). */
  clipRange: number;
  /** ε of the value clip (0.2). */
  clipRangeValue: number;
  /** GAE's γ (1) and λ (0.95). */
  gamma: number;
  lambda: number;
  /** Whiten the advantages over the batch's completion tokens (true, as TRL). */
  whitenAdvantages: boolean;
  /**
   * Subtracted from the score of a completion that ran out of tokens without an end of turn
   * (TRL's `missing_eos_penalty`; default 1 here, TRL: off). 0 turns it off.
   */
  missingEosPenalty: number;
  /** Global gradient-norm clip of each model (1). */
  gradClip: number;
  /** Seed of the prompt order, sampling and minibatch shuffles. */
  seed: number;
}

/** TRL's `PPOConfig` defaults where it has them (see each field). */
export const PPO_DEFAULTS: PPOConfig = {
  promptsPerStep: 16,
  maxCompletionTokens: 16,
  temperature: 0.7,
  schedule: { kind: 'constant', lr: 3e-6 },
  ppoEpochs: 4,
  numMiniBatches: 1,
  klCoef: 0.05,
  klEstimator: 'k1',
  clipRange: 0.2,
  clipRangeValue: 0.2,
  gamma: 1,
  lambda: 0.95,
  whitenAdvantages: true,
  missingEosPenalty: 1,
  gradClip: 1,
  seed: 0,
};

/** `input` over the defaults, checked; errors name the field. */
export function resolvePPOConfig(input: Partial<PPOConfig> = {}): PPOConfig {
  const c: PPOConfig = { ...PPO_DEFAULTS, ...input };
  for (const name of ['promptsPerStep', 'maxCompletionTokens', 'ppoEpochs', 'numMiniBatches'] as const) {
    if (!Number.isInteger(c[name]) || c[name] < 1)
      throw new RangeError(`PPOConfig: ${name} must be an integer ≥ 1, got ${c[name]}`);
  }
  if (c.promptsPerStep % c.numMiniBatches !== 0) {
    throw new RangeError(
      `PPOConfig: promptsPerStep ${c.promptsPerStep} must be divisible by numMiniBatches ${c.numMiniBatches}`,
    );
  }
  for (const name of [
    'temperature',
    'klCoef',
    'clipRange',
    'clipRangeValue',
    'gamma',
    'lambda',
    'missingEosPenalty',
    'gradClip',
  ] as const) {
    if (!(Number.isFinite(c[name]) && c[name] >= 0))
      throw new RangeError(`PPOConfig: ${name} must be a finite number ≥ 0, got ${c[name]}`);
  }
  if (!(c.temperature > 0)) throw new RangeError('PPOConfig: temperature must be > 0');
  return c;
}
