/**
 * A training checkpoint: everything needed to continue a run exactly where it stopped (Node
 * only). One `CheckpointDir` entry (`step-N/`, written atomically) holds:
 *
 * | file                    | contents                                                             |
 * | ----------------------- | -------------------------------------------------------------------- |
 * | `model.safetensors`     | `model.stateDict()`, float32, under the model's own parameter names  |
 * | `optimizer.safetensors` | the optimizer's state tensors (`<param>.exp_avg`, …)                 |
 * | `trainer-state.json`    | step, tokens, elapsed time, RNG state, data position, optimizer step, loss scale (mixed precision) |
 * | `run-config.json`       | the training config and whatever the caller adds (the model config)  |
 *
 * Everything is stored exactly (float32 tensors as F32), so a resumed run is bit-identical to
 * an uninterrupted one on the CPU backend.
 */
import { getRngState, setRngState } from '@kiln/tensor';
import { parseSafetensors, tensorsFromSafetensors, tensorsToSafetensors } from '@kiln/tensor/safetensors';
import type { CheckpointDir, CheckpointInfo } from './checkpoint-dir.js';
import type { JsonValue } from './data/token-format.js';
import { parseJsonText } from './json-file.js';
import { modelBackend } from './language-model.js';
import { checkLossScalerState } from './loss-scaler.js';
import {
  parseTrainerState,
  type RunCounters,
  type TrainerState,
  type TrainingParts,
  trainerState,
} from './training-state.js';

export type { TrainerState, TrainingParts };

/** File names inside a training checkpoint. */
export const TRAINING_CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  state: 'trainer-state.json',
  config: 'run-config.json',
} as const;

/**
 * Saves model, optimizer, RNG and data-source state plus `run` (counters) and `config` as
 * checkpoint `step` of `dir`, atomically; replaces an existing checkpoint of the same step (left
 * by an abandoned run that got further).
 */
export async function saveTrainingCheckpoint(
  dir: CheckpointDir,
  parts: TrainingParts,
  run: RunCounters,
  config: JsonValue,
): Promise<CheckpointInfo> {
  const { model, optimizer } = parts;
  const optimizerState = optimizer.stateDict();
  const state: TrainerState = trainerState(parts, run, getRngState(), {
    kind: optimizerState.kind,
    step: optimizerState.step,
    hyperparameters: optimizerState.hyperparameters,
  });
  const modelBytes = await tensorsToSafetensors(model.stateDict(), { metadata: { format: 'pt' } });
  const optimizerBytes = await tensorsToSafetensors(optimizerState.tensors, {
    metadata: { kind: optimizerState.kind },
  });
  return dir.save(
    run.step,
    async (writer) => {
      await writer.write(TRAINING_CHECKPOINT_FILES.model, modelBytes);
      await writer.write(TRAINING_CHECKPOINT_FILES.optimizer, optimizerBytes);
      await writer.write(TRAINING_CHECKPOINT_FILES.state, `${JSON.stringify(state, null, 2)}\n`);
      await writer.write(TRAINING_CHECKPOINT_FILES.config, `${JSON.stringify(config, null, 2)}\n`);
    },
    { overwrite: true },
  );
}

/**
 * Restores a checkpoint into `parts`: the model's weights (strictly: every name and shape must
 * match), the optimizer's state, the data source's position (`data.restore`; a version-1
 * checkpoint's sampler state), and the global tensor RNG. Returns the trainer
 * state and the saved run config.
 *
 * Every file is read, checked (size and checksum against the manifest) and parsed before
 * anything is restored, so a corrupt checkpoint throws — naming the file and the problem —
 * with the model and optimizer untouched, and a caller can fall back to another checkpoint.
 */
export async function loadTrainingCheckpoint(
  dir: CheckpointDir,
  checkpoint: CheckpointInfo,
  parts: TrainingParts,
): Promise<{ state: TrainerState; config: JsonValue }> {
  const { model, optimizer, data } = parts;
  const where = checkpoint.path;
  const F = TRAINING_CHECKPOINT_FILES;
  const statePath = `${where}/${F.state}`;
  const state = parseTrainerState(
    parseJsonText(
      await dir.readText(checkpoint, F.state),
      statePath,
      'a Kiln trainer state ({ "format": "kiln-trainer-state", "step", … })',
    ),
    statePath,
  );
  const config = parseJsonText(
    await dir.readText(checkpoint, F.config),
    `${where}/${F.config}`,
    'the run config (a JSON object with "train")',
  ) as JsonValue;
  if (state.lossScale !== undefined) checkLossScalerState(state.lossScale, statePath);
  if (state.optimizer.kind !== optimizer.kind) {
    throw new Error(
      `${where}: the checkpoint was trained with optimizer '${state.optimizer.kind}', but this run uses '${optimizer.kind}'`,
    );
  }
  const modelFile = parseSafetensors(await dir.read(checkpoint, F.model), { source: `${where}/${F.model}` });
  const optimizerFile = parseSafetensors(await dir.read(checkpoint, F.optimizer), {
    source: `${where}/${F.optimizer}`,
  });
  const backend = modelBackend(model);
  const weights = tensorsFromSafetensors(modelFile, { backend, float16: 'float32' });
  try {
    model.loadStateDict(weights);
  } finally {
    for (const t of Object.values(weights)) t.dispose();
  }
  const moments = tensorsFromSafetensors(optimizerFile, { backend, float16: 'float32' });
  try {
    optimizer.loadStateDict({ ...state.optimizer, tensors: moments });
  } finally {
    for (const t of Object.values(moments)) t.dispose();
  }
  data.restore(state.data);
  // A float32 checkpoint resumed with mixed precision starts at the configured scale.
  if (parts.lossScaler && state.lossScale) parts.lossScaler.restore(state.lossScale);
  setRngState(state.rng);
  return { state, config };
}
