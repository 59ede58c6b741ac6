/**
 * @kiln/rlhf: the last stage of making an assistant. Reward models, DPO (and IPO, hinge), PPO
 * and GRPO/RLOO with machine feedback (reward functions are plain TypeScript functions), on
 * `@kiln/trainer`'s `trainStep` and optimizers and `@kiln/transformer`'s batched, KV-cached
 * generation. The losses are pure functions on tensors. This entry touches no files; saving a
 * reward model is `@kiln/rlhf/node`. See docs/rlhf.md for the formulas, defaults and results.
 *
 * ```ts
 * import { GRPOTrainer } from '@kiln/rlhf';
 * const trainer = new GRPOTrainer({
 *   policy, reference, tokenizer: { decode }, prompts, stopTokens: [imEnd],
 *   rewards: [{ name: 'correct', fn: (prompt, completion, example) => (completion === example.answer ? 1 : 0) }],
 *   config: { steps: 60, promptsPerStep: 8, groupSize: 8, learningRate: 1e-4 },
 * });
 * for (let i = 0; i < 60; i++) console.log(await trainer.step());
 * ```
 * @packageDocumentation
 */

export {
  DPO_DEFAULTS,
  type DPOConfig,
  dpoObjective,
  precomputeReferenceLogps,
  type ReferenceLogps,
} from './dpo.js';
export { GRPO_DEFAULTS, type GRPOConfig, resolveGRPOConfig } from './grpo-config.js';
export { type GRPOStepResult, GRPOTrainer, type GRPOTrainerOptions } from './grpo-trainer.js';
export {
  type LogprobModel,
  type SequenceLogprobOptions,
  sequenceLogprobs,
  tokenEntropy,
  tokenLogprobs,
} from './logprobs.js';
export {
  type BradleyTerryOptions,
  type BradleyTerryOutput,
  bradleyTerryLoss,
} from './losses/bradley-terry.js';
export { type DPOLossOptions, type DPOLossOutput, type DPOLossType, dpoLoss } from './losses/dpo.js';
export { type GAEOptions, type GAEOutput, gae } from './losses/gae.js';
export {
  type AdvantageScale,
  type GRPOAdvantageOptions,
  type GRPOLossInputs,
  type GRPOLossOptions,
  type GRPOLossOutput,
  type GRPOLossType,
  grpoAdvantages,
  grpoLoss,
  rlooAdvantages,
} from './losses/grpo.js';
export { type KLEstimator, klPenalty } from './losses/kl.js';
export { logSigmoid } from './losses/log-sigmoid.js';
export { maskedMean, maskedVariance, maskedWhiten } from './losses/masked.js';
export {
  type PPOLossInputs,
  type PPOLossOptions,
  type PPOLossOutput,
  ppoLosses,
  ppoValueLoss,
} from './losses/ppo.js';
export { PPO_DEFAULTS, type PPOConfig, resolvePPOConfig } from './ppo-config.js';
export { type PPOStepResult, PPOTrainer, type PPOTrainerOptions } from './ppo-trainer.js';
export {
  checkPair,
  PreferenceError,
  type PreferencePair,
  PreferenceSource,
  type PreferenceSourceOptions,
  type PreferenceTokenizeOptions,
  parsePreferenceJsonl,
  preferenceRows,
  type TokenizedPair,
  tokenizePreferencePairs,
} from './preferences.js';
export { PromptOrder, type RunPosition } from './prompt-order.js';
export { checkReference, type ReferenceModel, referenceLogprobs } from './reference.js';
export {
  gatherLast,
  pairRewards,
  RewardModel,
  type RewardModelOptions,
  rewardModelObjective,
} from './reward-model.js';
export {
  checkRewardFunctions,
  RewardError,
  type RewardFn,
  type RewardFunction,
  type RLPrompt,
  type ScoredRewards,
  scoreCompletions,
} from './rewards.js';
export {
  checkPromptBudget,
  type RolloutOptions,
  type RolloutRows,
  type Rollouts,
  rollout,
  rolloutRows,
} from './rollout.js';
