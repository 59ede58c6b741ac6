/**
 * `@kiln/rlhf/node`: everything of `@kiln/rlhf` plus reward model directories in Hugging Face
 * format (`saveRewardModel`, `loadRewardModel`), and mid-run checkpoints of GRPO and PPO runs with
 * exact resume (`saveGRPOCheckpoint`, `resumeGRPOCheckpoint`, `savePPOCheckpoint`,
 * `resumePPOCheckpoint`).
 * @packageDocumentation
 */
export {
  type GRPOCheckpointInfo,
  resumeGRPOCheckpoint,
  saveGRPOCheckpoint,
} from './grpo-checkpoint.js';
export * from './index.js';
export {
  type PPOCheckpointInfo,
  resumePPOCheckpoint,
  savePPOCheckpoint,
} from './ppo-checkpoint.js';
export {
  loadRewardModel,
  rewardModelBindings,
  type SaveRewardModelOptions,
  saveRewardModel,
} from './reward-model-dir.js';
