// Mid-run checkpoints of a GRPO run through @kiln/trainer's checkpoint machinery: the policy's
// weights (adapters included), the optimizer's moments, the step count and the prompt order's
// position, the tensor RNG — so a resumed run continues exactly where the interrupted one was.
// The rollouts' sampling seeds derive from the config's seed and the step, so they need no state.
import {
  type CheckpointDir,
  type JsonValue,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  type TrainingParts,
} from '@kiln/trainer/node';
import type { GRPOTrainer } from './grpo-trainer.js';
import { checkSavedConfig, positionParts } from './run-checkpoint.js';

/** What {@link saveGRPOCheckpoint} stores beside the tensors, and {@link resumeGRPOCheckpoint} returns. */
export interface GRPOCheckpointInfo {
  /** GRPO steps completed. */
  step: number;
  /** Whatever the caller passed as `extra` (e.g. its own config), as saved. */
  extra: JsonValue;
}

function parts<E>(trainer: GRPOTrainer<E>): TrainingParts {
  return positionParts('resumeGRPOCheckpoint', 'GRPOTrainer', trainer, trainer.policy, trainer.optimizer);
}

/**
 * Saves `trainer`'s state after its last step as checkpoint `trainer.stepCount` of `dir`
 * (atomically, keeping the directory's last K). `extra` is stored with it (the run's config, a
 * record of the reward functions' names, …) and handed back on resume.
 */
export async function saveGRPOCheckpoint<E>(
  dir: CheckpointDir,
  trainer: GRPOTrainer<E>,
  extra: JsonValue = null,
): Promise<void> {
  const config = { grpo: trainer.config as unknown as JsonValue, extra };
  await saveTrainingCheckpoint(
    dir,
    parts(trainer),
    { step: trainer.stepCount, tokens: 0, elapsedSeconds: 0 },
    config,
  );
}

/**
 * Restores the latest checkpoint of `dir` into `trainer` (built with the same policy
 * architecture, prompts, rewards and config as the run that saved it): policy weights, optimizer
 * state, step count, prompt order and RNG. Returns undefined when `dir` holds no checkpoint (start
 * from the beginning). The next `trainer.step()` is the step the interrupted run would have taken.
 */
export async function resumeGRPOCheckpoint<E>(
  dir: CheckpointDir,
  trainer: GRPOTrainer<E>,
): Promise<GRPOCheckpointInfo | undefined> {
  const latest = await dir.latest();
  if (!latest) return undefined;
  const extra = await checkSavedConfig(
    'resumeGRPOCheckpoint',
    'GRPOConfig',
    dir,
    latest,
    'grpo',
    trainer.config,
  );
  const { state } = await loadTrainingCheckpoint(dir, latest, parts(trainer));
  return { step: state.step, extra };
}
