/**
 * `@kiln/rlhf/node`: everything of `@kiln/rlhf` plus reward model directories in Hugging Face
 * format (`saveRewardModel`, `loadRewardModel`), and mid-run checkpoints of a GRPO run with exact
 * resume (`saveGRPOCheckpoint`, `resumeGRPOCheckpoint`).
 * @packageDocumentation
 */
export {
  type GRPOCheckpointInfo,
  resumeGRPOCheckpoint,
  saveGRPOCheckpoint,
} from './grpo-checkpoint.js';
export * from './index.js';
export {
  loadRewardModel,
  rewardModelBindings,
  type SaveRewardModelOptions,
  saveRewardModel,
} from './reward-model-dir.js';
