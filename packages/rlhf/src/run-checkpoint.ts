// What GRPO and PPO checkpoints share (grpo-checkpoint.ts, ppo-checkpoint.ts): the trainer's run
// position as a checkpoint's data state, checked on restore, and the check that a checkpoint was
// saved with the config of the trainer resuming it. Internal: not exported from the package.
import {
  type CheckpointDir,
  type CheckpointInfo,
  type JsonValue,
  TRAINING_CHECKPOINT_FILES,
  type TrainingParts,
} from '@kiln/trainer/node';
import type { RunPosition } from './prompt-order.js';

/** A trainer whose position a checkpoint carries. */
interface PositionedTrainer {
  state(): RunPosition;
  restore(state: RunPosition): void;
}

/**
 * Checkpoint parts for `model` and `optimizer` with `trainer`'s position as the data state; a
 * saved state that is not a position is an error naming `who` (the resuming function) and
 * `trainerName`.
 */
export function positionParts(
  who: string,
  trainerName: string,
  trainer: PositionedTrainer,
  model: TrainingParts['model'],
  optimizer: TrainingParts['optimizer'],
): TrainingParts {
  return {
    model,
    optimizer,
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
            `${who}: the checkpoint's data state ${JSON.stringify(state)} is not a ${trainerName} state ({ step, order: { epoch, at } }); was it written by another trainer?`,
          );
        }
        trainer.restore({ step: s.step, order: { epoch: s.order.epoch, at: s.order.at } });
      },
    },
  };
}

/**
 * Reads checkpoint `latest`'s config (saved as `{ [key]: trainer config, extra }`) and throws,
 * naming the first setting that differs, when it is not `config`: a different config would
 * silently continue another run. Returns the saved `extra`.
 */
export async function checkSavedConfig(
  who: string,
  configName: string,
  dir: CheckpointDir,
  latest: CheckpointInfo,
  key: string,
  config: object,
): Promise<JsonValue> {
  const saved = JSON.parse(await dir.readText(latest, TRAINING_CHECKPOINT_FILES.config)) as Record<
    string,
    JsonValue
  >;
  const then = (saved[key] ?? undefined) as Record<string, JsonValue> | undefined;
  const now = config as Record<string, JsonValue>;
  for (const name of Object.keys({ ...now, ...then })) {
    if (JSON.stringify(now[name]) !== JSON.stringify(then?.[name])) {
      throw new Error(
        `${who}: ${latest.path} was saved with ${name} = ${JSON.stringify(then?.[name])}, but this trainer has ${JSON.stringify(now[name])}; resume with the same ${configName} or start a new checkpoint directory`,
      );
    }
  }
  return saved.extra ?? null;
}
