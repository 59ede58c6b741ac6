// Mid-run checkpoints of a PPO run through @kiln/trainer's checkpoint machinery, as for GRPO
// (grpo-checkpoint.ts), but PPO trains two models with two optimizers and a training checkpoint
// holds one of each: the policy's (with the trainer's step and prompt order, and the tensor RNG)
// goes into the given directory, the value model's into its `value/` subdirectory (which the
// checkpoint directory's own listing ignores). The value checkpoint is written first and one
// more is kept of them, so the policy's latest checkpoint always has its value checkpoint. The reference and the reward
// model are frozen and not saved; the rollouts' and minibatches' seeds derive from the config's
// seed and the step, so they need no state.
import { join } from 'node:path';
import {
  CheckpointDir,
  type CheckpointInfo,
  type JsonValue,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  type TrainingParts,
} from '@kiln/trainer/node';
import type { PPOTrainer } from './ppo-trainer.js';
import { checkSavedConfig, positionParts } from './run-checkpoint.js';

/** What {@link savePPOCheckpoint} stores beside the tensors, and {@link resumePPOCheckpoint} returns. */
export interface PPOCheckpointInfo {
  /** PPO steps completed. */
  step: number;
  /** Whatever the caller passed as `extra` (e.g. its own config), as saved. */
  extra: JsonValue;
}

/**
 * The value model's checkpoints: the `value/` subdirectory of `dir`, keeping one more than
 * `dir` — an interruption between the two saves leaves the value step ahead of the policy's
 * latest, whose value checkpoint must still be there.
 */
function valueDir(dir: CheckpointDir): CheckpointDir {
  return new CheckpointDir(join(dir.dir, 'value'), { keep: dir.keep + 1 });
}

function policyParts<E>(trainer: PPOTrainer<E>): TrainingParts {
  return positionParts('resumePPOCheckpoint', 'PPOTrainer', trainer, trainer.policy, trainer.optimizer);
}

function valueParts<E>(trainer: PPOTrainer<E>): TrainingParts {
  // the run's position lives in the policy's checkpoint
  return {
    model: trainer.valueModel,
    optimizer: trainer.valueOptimizer,
    data: { state: () => null, restore: () => {} },
  };
}

/**
 * Saves `trainer`'s state after its last step as checkpoint `trainer.stepCount` of `dir` (the
 * policy, its optimizer, the step and prompt order, the RNG) and of `dir`'s `value/`
 * subdirectory (the value model and its optimizer), atomically each, keeping the last K.
 * `extra` is stored with it (the run's config, …) and handed back on resume.
 */
export async function savePPOCheckpoint<E>(
  dir: CheckpointDir,
  trainer: PPOTrainer<E>,
  extra: JsonValue = null,
): Promise<void> {
  const config = { ppo: trainer.config as unknown as JsonValue, extra };
  const run = { step: trainer.stepCount, tokens: 0, elapsedSeconds: 0 };
  await saveTrainingCheckpoint(valueDir(dir), valueParts(trainer), run, config);
  await saveTrainingCheckpoint(dir, policyParts(trainer), run, config);
}

/**
 * Restores the latest checkpoint of `dir` into `trainer` (built with the same architectures,
 * prompts, rewards, reward model and config as the run that saved it): both models' weights,
 * both optimizers' state, the step count, prompt order and RNG. Returns undefined when `dir`
 * holds no checkpoint (start from the beginning). The next `trainer.step()` is the step the
 * interrupted run would have taken. A different config, or a policy checkpoint without its
 * value checkpoint, is an error before anything is restored.
 */
export async function resumePPOCheckpoint<E>(
  dir: CheckpointDir,
  trainer: PPOTrainer<E>,
): Promise<PPOCheckpointInfo | undefined> {
  const latest = await dir.latest();
  if (!latest) return undefined;
  const extra = await checkSavedConfig(
    'resumePPOCheckpoint',
    'PPOConfig',
    dir,
    latest,
    'ppo',
    trainer.config,
  );
  const values = valueDir(dir);
  const value: CheckpointInfo | undefined = (await values.list()).find((c) => c.step === latest.step);
  if (!value) {
    throw new Error(
      `resumePPOCheckpoint: ${latest.path} has no value-model checkpoint of step ${latest.step} in ${values.dir}; the directory was not written by savePPOCheckpoint, or its value/ part was removed`,
    );
  }
  const { state } = await loadTrainingCheckpoint(dir, latest, policyParts(trainer));
  await loadTrainingCheckpoint(values, value, valueParts(trainer));
  return { step: state.step, extra };
}
