// Mid-run checkpoints of a GRPO run through @kiln/trainer's checkpoint machinery: the policy's
// weights (adapters included), the optimizer's moments, the step count and the prompt order's
// position, the tensor RNG — so a resumed run continues exactly where the interrupted one was.
// The rollouts' sampling seeds derive from the config's seed and the step, so they need no state.
import {
  type CheckpointDir,
  type JsonValue,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  TRAINING_CHECKPOINT_FILES,
  type TrainingParts,
} from '@kiln/trainer/node';
import type { GRPOTrainer } from './grpo-trainer.js';

/** What {@link saveGRPOCheckpoint} stores beside the tensors, and {@link resumeGRPOCheckpoint} returns. */
export interface GRPOCheckpointInfo {
  /** GRPO steps completed. */
  step: number;
  /** Whatever the caller passed as `extra` (e.g. its own config), as saved. */
  extra: JsonValue;
}

function parts<E>(trainer: GRPOTrainer<E>): TrainingParts {
  return {
    model: trainer.policy,
    optimizer: trainer.optimizer,
    data: {
      state: () => trainer.state() as unknown as JsonValue,
      restore: (state) => {
        const s = state as { step?: unknown; order?: { epoch?: unknown; at?: unknown } } | null;
        if (
          typeof s?.step !== 'number' ||
          typeof s.order?.epoch !== 'number' ||
          typeof s.order?.at !== 'number'
        ) {
          throw new Error(
            `resumeGRPOCheckpoint: the checkpoint's data state ${JSON.stringify(state)} is not a GRPOTrainer state ({ step, order: { epoch, at } }); was it written by another trainer?`,
          );
        }
        trainer.restore({ step: s.step, order: { epoch: s.order.epoch, at: s.order.at } });
      },
    },
  };
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
  // a different config would silently continue another run: name the first setting that
  // differs, before anything is restored
  const saved = JSON.parse(await dir.readText(latest, TRAINING_CHECKPOINT_FILES.config)) as {
    grpo?: Record<string, JsonValue>;
    extra?: JsonValue;
  };
  const now = trainer.config as unknown as Record<string, JsonValue>;
  for (const key of Object.keys({ ...now, ...saved.grpo })) {
    if (JSON.stringify(now[key]) !== JSON.stringify(saved.grpo?.[key])) {
      throw new Error(
        `resumeGRPOCheckpoint: ${latest.path} was saved with ${key} = ${JSON.stringify(saved.grpo?.[key])}, but this trainer has ${JSON.stringify(now[key])}; resume with the same GRPOConfig or start a new checkpoint directory`,
      );
    }
  }
  const { state } = await loadTrainingCheckpoint(dir, latest, parts(trainer));
  return { step: state.step, extra: saved.extra ?? null };
}
