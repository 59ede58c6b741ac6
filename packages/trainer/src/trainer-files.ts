/**
 * A trainer's outputs in a directory (Node only): the {@link TrainerStorage} that
 * `@kiln/trainer/node`'s `Trainer` builds from `outDir`.
 *
 * ```text
 * outDir/
 *   metrics.jsonl     one JSON record per logged step and per validation
 *   loss.svg          train/validation loss curves, redrawn after each validation
 *   checkpoints/      a CheckpointDir of training checkpoints (see training-checkpoint.ts)
 *   run.lock          while a trainer uses the directory: its pid (see run-lock.ts)
 * ```
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointDir } from './checkpoint-dir.js';
import type { JsonValue } from './data/token-format.js';
import { MetricsWriter } from './metrics.js';
import { writeLossCurveFromMetrics } from './plot-file.js';
import { RunLock } from './run-lock.js';
import type { CheckpointInfo, CheckpointScan, MetricsLog, TrainerStorage } from './trainer-storage.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from './training-checkpoint.js';
import type { RunCounters, TrainerState, TrainingParts } from './training-state.js';

/** File names the trainer writes into its output directory. */
export const TRAINER_OUTPUT_FILES = {
  metrics: 'metrics.jsonl',
  plot: 'loss.svg',
  checkpoints: 'checkpoints',
} as const;

/** Options of {@link TrainerFiles}. */
export interface TrainerFilesOptions {
  /** Checkpoints to keep, the most recently saved (default 3). */
  keepCheckpoints?: number;
}

/** Metrics, loss plot and checkpoints of a run in `outDir` (see the file comment). */
export class TrainerFiles implements TrainerStorage {
  /** The output directory. */
  readonly dir: string;
  /** The checkpoint directory, `outDir/checkpoints`. */
  readonly checkpoints: CheckpointDir;
  /** The metrics log, `outDir/metrics.jsonl`. */
  readonly metricsPath: string;
  /** The loss-curve plot, `outDir/loss.svg`. */
  readonly plotPath: string;
  /** The directory's lock, `outDir/run.lock`. */
  readonly runLock: RunLock;

  /** Files in `outDir` (created on the first write). */
  constructor(outDir: string, options: TrainerFilesOptions = {}) {
    if (typeof outDir !== 'string' || outDir === '') {
      throw new TypeError(`TrainerFiles: outDir must be a directory path, got ${JSON.stringify(outDir)}`);
    }
    this.dir = outDir;
    this.checkpoints = new CheckpointDir(join(outDir, TRAINER_OUTPUT_FILES.checkpoints), {
      keep: options.keepCheckpoints,
    });
    this.metricsPath = join(outDir, TRAINER_OUTPUT_FILES.metrics);
    this.plotPath = join(outDir, TRAINER_OUTPUT_FILES.plot);
    this.runLock = new RunLock(outDir);
  }

  /** Locks `outDir` against other trainers (see {@link RunLock}). */
  lock(): Promise<void> {
    return this.runLock.acquire();
  }

  /** Releases `outDir`. */
  unlock(): Promise<void> {
    return this.runLock.release();
  }

  /** Opens `metrics.jsonl` for appending: a fresh run replaces an old log, a resumed one keeps it up to `step`. */
  async openMetrics(options: { resumed: boolean; step: number }): Promise<MetricsLog> {
    await mkdir(this.dir, { recursive: true });
    if (!options.resumed) await rm(this.metricsPath, { force: true });
    return MetricsWriter.open(this.metricsPath, { truncateAfterStep: options.step });
  }

  /** Redraws `loss.svg` from `metrics.jsonl`. */
  async writePlot(options: { title: string; yLabel?: string }): Promise<void> {
    await writeLossCurveFromMetrics(this.metricsPath, {
      svgPath: this.plotPath,
      title: options.title,
      xLabel: 'step',
      yLabel: options.yLabel ?? 'loss',
    });
  }

  /** Saves a training checkpoint into `checkpoints/`. */
  saveCheckpoint(parts: TrainingParts, run: RunCounters, config: JsonValue): Promise<CheckpointInfo> {
    return saveTrainingCheckpoint(this.checkpoints, parts, run, config);
  }

  /** The most recently saved complete checkpoint. */
  latestCheckpoint(): Promise<CheckpointInfo | undefined> {
    return this.checkpoints.latest();
  }

  /** Every checkpoint of `checkpoints/`, complete-looking and refused (see {@link CheckpointDir.scan}). */
  scanCheckpoints(): Promise<CheckpointScan> {
    return this.checkpoints.scan();
  }

  /** Restores a checkpoint of `checkpoints/` into `parts`. */
  loadCheckpoint(
    checkpoint: CheckpointInfo,
    parts: TrainingParts,
  ): Promise<{ state: TrainerState; config: JsonValue }> {
    return loadTrainingCheckpoint(this.checkpoints, checkpoint, parts);
  }
}
