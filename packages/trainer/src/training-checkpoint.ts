/**
 * A training checkpoint: everything needed to continue a run exactly where it stopped (Node
 * only). One `CheckpointDir` entry (`step-N/`, written atomically) holds:
 *
 * | file                    | contents                                                             |
 * | ----------------------- | -------------------------------------------------------------------- |
 * | `model.safetensors`     | `model.stateDict()`, float32, under the model's own parameter names  |
 * | `optimizer.safetensors` | the optimizer's state tensors (`<param>.exp_avg`, …)                 |
 * | `trainer-state.json`    | step, tokens, elapsed time, RNG state, sampler state, optimizer step |
 * | `run-config.json`       | the training config and whatever the caller adds (the model config)  |
 *
 * Everything is stored exactly (float32 tensors as F32), so a resumed run is bit-identical to
 * an uninterrupted one on the CPU backend.
 */
import type { Module } from '@kiln/autograd';
import { getRngState, type RngState, setRngState } from '@kiln/tensor';
import { parseSafetensors, tensorsFromSafetensors, tensorsToSafetensors } from '@kiln/tensor/safetensors';
import type { CheckpointDir, CheckpointInfo } from './checkpoint-dir.js';
import type { JsonValue } from './data/token-format.js';
import type { WindowSampler, WindowSamplerState } from './data/window-sampler.js';
import { modelBackend } from './language-model.js';
import type { Hyperparameters, Optimizer } from './optim/optimizer.js';

/** File names inside a training checkpoint. */
export const TRAINING_CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  state: 'trainer-state.json',
  config: 'run-config.json',
} as const;

/** The JSON state of a run at a checkpoint (`trainer-state.json`). */
export interface TrainerState {
  format: 'kiln-trainer-state';
  version: 1;
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens processed. */
  tokens: number;
  /** Wall-clock seconds of training so far, across resumes. */
  elapsedSeconds: number;
  /** The tensor RNG (`getRngState()`), for dropout and anything else drawn during training. */
  rng: RngState;
  /** The training-window sampler. */
  sampler: WindowSamplerState;
  /** The optimizer's kind, step count and hyperparameters (its tensors are in `optimizer.safetensors`). */
  optimizer: { kind: string; step: number; hyperparameters: Hyperparameters };
  /** The last validation loss, if one was measured. */
  valLoss?: number;
}

/** What a training checkpoint saves and restores. */
export interface TrainingParts {
  model: Module;
  optimizer: Optimizer;
  sampler: WindowSampler;
}

/**
 * Saves model, optimizer, RNG and sampler state plus `run` (counters) and `config` as
 * checkpoint `step` of `dir`, atomically; replaces an existing checkpoint of the same step (left
 * by an abandoned run that got further).
 */
export async function saveTrainingCheckpoint(
  dir: CheckpointDir,
  parts: TrainingParts,
  run: { step: number; tokens: number; elapsedSeconds: number; valLoss?: number },
  config: JsonValue,
): Promise<CheckpointInfo> {
  const { model, optimizer, sampler } = parts;
  const optimizerState = optimizer.stateDict();
  const state: TrainerState = {
    format: 'kiln-trainer-state',
    version: 1,
    step: run.step,
    tokens: run.tokens,
    elapsedSeconds: run.elapsedSeconds,
    rng: getRngState(),
    sampler: sampler.state(),
    optimizer: {
      kind: optimizerState.kind,
      step: optimizerState.step,
      hyperparameters: optimizerState.hyperparameters,
    },
    ...(run.valLoss === undefined ? {} : { valLoss: run.valLoss }),
  };
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

function checkState(value: unknown, source: string): TrainerState {
  const s = value as TrainerState;
  if (s?.format !== 'kiln-trainer-state' || s.version !== 1) {
    throw new Error(
      `${source}: not a Kiln trainer state (format ${JSON.stringify(s?.format)}, version ${JSON.stringify(s?.version)})`,
    );
  }
  for (const key of ['step', 'tokens'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0)
      throw new Error(`${source}: ${key} must be a non-negative integer, got ${JSON.stringify(s[key])}`);
  }
  return s;
}

/**
 * Restores a checkpoint into `parts`: the model's weights (strictly: every name and shape must
 * match), the optimizer's state, the sampler, and the global tensor RNG. Returns the trainer
 * state and the saved run config.
 */
export async function loadTrainingCheckpoint(
  dir: CheckpointDir,
  checkpoint: CheckpointInfo,
  parts: TrainingParts,
): Promise<{ state: TrainerState; config: JsonValue }> {
  const { model, optimizer, sampler } = parts;
  const where = checkpoint.path;
  const state = checkState(
    JSON.parse(await dir.readText(checkpoint, TRAINING_CHECKPOINT_FILES.state)),
    `${where}/${TRAINING_CHECKPOINT_FILES.state}`,
  );
  const config = JSON.parse(await dir.readText(checkpoint, TRAINING_CHECKPOINT_FILES.config)) as JsonValue;
  if (state.optimizer.kind !== optimizer.kind) {
    throw new Error(
      `${where}: the checkpoint was trained with optimizer '${state.optimizer.kind}', but this run uses '${optimizer.kind}'`,
    );
  }
  const backend = modelBackend(model);
  const weights = tensorsFromSafetensors(
    parseSafetensors(await dir.read(checkpoint, TRAINING_CHECKPOINT_FILES.model), {
      source: `${where}/${TRAINING_CHECKPOINT_FILES.model}`,
    }),
    { backend, float16: 'float32' },
  );
  try {
    model.loadStateDict(weights);
  } finally {
    for (const t of Object.values(weights)) t.dispose();
  }
  const moments = tensorsFromSafetensors(
    parseSafetensors(await dir.read(checkpoint, TRAINING_CHECKPOINT_FILES.optimizer), {
      source: `${where}/${TRAINING_CHECKPOINT_FILES.optimizer}`,
    }),
    { backend, float16: 'float32' },
  );
  try {
    optimizer.loadStateDict({ ...state.optimizer, tensors: moments });
  } finally {
    for (const t of Object.values(moments)) t.dispose();
  }
  sampler.setState(state.sampler);
  setRngState(state.rng);
  return { state, config };
}
