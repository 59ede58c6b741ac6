/**
 * The JSON state of a run at a checkpoint (`trainer-state.json`) and what a checkpoint saves
 * and restores. Pure: the files are written by `training-checkpoint.ts` (Node), and any other
 * storage (a browser's) can reuse these types and checks.
 */
import type { Module } from '@kiln/autograd';
import type { RngState } from '@kiln/tensor';
import type { BatchSource } from './data/batch.js';
import type { JsonValue } from './data/token-format.js';
import type { LossScalerState } from './loss-scaler.js';
import type { Hyperparameters, Optimizer } from './optim/optimizer.js';

/**
 * The JSON state of a run at a checkpoint. Version 2 stores the data source's `state()` as
 * `data`; version 1 (written before sources were generic) stored a TokenDataset's sampler as
 * `sampler`, and is still read.
 */
export interface TrainerState {
  format: 'kiln-trainer-state';
  version: 2;
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens processed. */
  tokens: number;
  /** Wall-clock seconds of training so far, across resumes. */
  elapsedSeconds: number;
  /** The tensor RNG (`getRngState()`), for dropout and anything else drawn during training. */
  rng: RngState;
  /** The data source's `state()` (for a TokenDataset, its sampler's `{ seed, counter }`). */
  data: JsonValue;
  /** The optimizer's kind, step count and hyperparameters (its tensors are stored beside). */
  optimizer: { kind: string; step: number; hyperparameters: Hyperparameters };
  /** The last validation loss, if one was measured. */
  valLoss?: number;
  /** The dynamic loss scale of a mixed-precision run (absent for float32 runs). */
  lossScale?: LossScalerState;
}

/** What a training checkpoint saves and restores: the model, the optimizer and the data source's position. */
export interface TrainingParts {
  model: Module;
  optimizer: Optimizer;
  data: Pick<BatchSource, 'state' | 'restore'>;
  /** The loss scaler of a mixed-precision run (its state is saved in `trainer-state.json`). */
  lossScaler?: { state(): LossScalerState; restore(state: LossScalerState): void };
}

/** A run's counters at a checkpoint. */
export interface RunCounters {
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens processed. */
  tokens: number;
  /** Wall-clock seconds of training so far. */
  elapsedSeconds: number;
  /** The last validation loss. */
  valLoss?: number;
}

/** The {@link TrainerState} of `parts` now (the RNG state is passed in, so this stays pure). */
export function trainerState(
  parts: TrainingParts,
  run: RunCounters,
  rng: RngState,
  optimizer: TrainerState['optimizer'],
): TrainerState {
  return {
    format: 'kiln-trainer-state',
    version: 2,
    step: run.step,
    tokens: run.tokens,
    elapsedSeconds: run.elapsedSeconds,
    rng,
    data: parts.data.state(),
    optimizer,
    ...(run.valLoss === undefined ? {} : { valLoss: run.valLoss }),
    ...(parts.lossScaler ? { lossScale: parts.lossScaler.state() } : {}),
  };
}

/**
 * Reads a parsed `trainer-state.json` (version 2, or version 1 with its `sampler`, which becomes
 * `data`), with an error naming `source` when it is not one.
 */
export function parseTrainerState(value: unknown, source: string): TrainerState {
  const s = value as Omit<TrainerState, 'version'> & { version: number; sampler?: JsonValue };
  if (s?.format !== 'kiln-trainer-state' || (s.version !== 1 && s.version !== 2)) {
    throw new Error(
      `${source}: not a Kiln trainer state (format ${JSON.stringify(s?.format)}, version ${JSON.stringify(s?.version)})`,
    );
  }
  for (const key of ['step', 'tokens'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0)
      throw new Error(`${source}: ${key} must be a non-negative integer, got ${JSON.stringify(s[key])}`);
  }
  const data = s.version === 1 ? s.sampler : s.data;
  if (data === undefined) {
    throw new Error(
      `${source}: the state has no ${s.version === 1 ? 'sampler' : 'data'} position to resume from`,
    );
  }
  const { sampler: _sampler, ...rest } = s;
  return { ...rest, version: 2, data } as TrainerState;
}
