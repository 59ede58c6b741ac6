/**
 * `@kiln/rlhf/node`: everything of `@kiln/rlhf` plus reward model directories in Hugging Face
 * format (`saveRewardModel`, `loadRewardModel`).
 * @packageDocumentation
 */
export * from './index.js';
export {
  loadRewardModel,
  rewardModelBindings,
  type SaveRewardModelOptions,
  saveRewardModel,
} from './reward-model-dir.js';
