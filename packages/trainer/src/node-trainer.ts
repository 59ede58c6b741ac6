/**
 * The `Trainer` of `@kiln/trainer/node`: the loop of `trainer.ts` plus an `outDir` for its
 * files (`metrics.jsonl`, `loss.svg`, `checkpoints/`; see {@link TrainerFiles}).
 */
import type { Module } from '@kiln/autograd';
import type { CheckpointDir } from './checkpoint-dir.js';
import type { LanguageModel } from './language-model.js';
import { resolveTrainConfig } from './train-config.js';
import { Trainer as BaseTrainer, type TrainerOptions as BaseTrainerOptions } from './trainer.js';
import { TrainerFiles } from './trainer-files.js';

/** Options of the Node {@link Trainer}: those of the browser-safe loop plus `outDir`. */
export interface TrainerOptions<M extends Module = LanguageModel> extends BaseTrainerOptions<M> {
  /** Directory for `metrics.jsonl`, `loss.svg` and `checkpoints/`; without it nothing is written. */
  outDir?: string;
}

/**
 * Trains a model and writes its metrics, loss plot and checkpoints into `outDir`.
 *
 * ```ts
 * const trainer = new Trainer({ model, data, config: { steps: 2000, batchSize: 16 }, outDir: 'runs/a' });
 * await trainer.resume(); // continues from runs/a/checkpoints if there is one
 * const { validation } = await trainer.train();
 * ```
 */
export class Trainer<M extends Module = LanguageModel> extends BaseTrainer<M> {
  /** The checkpoint directory (with `outDir`). */
  readonly checkpoints: CheckpointDir | undefined;
  /** The metrics log (with `outDir`). */
  readonly metricsPath: string | undefined;
  /** The loss-curve plot (with `outDir`). */
  readonly plotPath: string | undefined;

  /** Validates the options; with `outDir`, the trainer's storage is a {@link TrainerFiles} there. */
  constructor(options: TrainerOptions<M>) {
    const { outDir, ...rest } = options;
    if (outDir !== undefined && rest.storage !== undefined) {
      throw new TypeError('Trainer: pass outDir or storage, not both');
    }
    const files =
      outDir === undefined
        ? undefined
        : new TrainerFiles(outDir, { keepCheckpoints: resolveTrainConfig(rest.config).keepCheckpoints });
    super({ ...rest, storage: files ?? rest.storage });
    this.checkpoints = files?.checkpoints;
    this.metricsPath = files?.metricsPath;
    this.plotPath = files?.plotPath;
  }
}
