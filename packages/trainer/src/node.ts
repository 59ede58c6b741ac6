/**
 * @kiln/trainer/node: everything of `@kiln/trainer`, plus what needs Node's file system.
 *
 * - `Trainer` here is the main entry's loop with an `outDir` (`metrics.jsonl`, `loss.svg`,
 *   `checkpoints/`, and `resume()` from them); `TrainerFiles` is that storage on its own.
 * - Checkpoints: `CheckpointDir` (atomic, keeps the last K), `saveTrainingCheckpoint`/
 *   `loadTrainingCheckpoint`.
 * - Token files on disk: `writeTokenFile` (atomic), `readTokenFile`, `openTokenFile` (random access).
 * - Metrics files: `MetricsWriter`, `readMetrics`; loss-curve files: `writeLossCurve`,
 *   `writeLossCurveFromMetrics`.
 * - Conversation files: `readChatJsonl` (JSONL for fine-tuning; see `parseChatJsonl`).
 * - Crash-safe writes come from `@kiln/tensor/node` (`writeFileAtomic`, …).
 *
 * ```ts
 * import { TokenDataset, Trainer, readTokenFile } from '@kiln/trainer/node';
 * ```
 * @packageDocumentation
 */

export {
  CHECKPOINT_MANIFEST,
  CheckpointCorruptError,
  CheckpointDir,
  type CheckpointDirOptions,
  type CheckpointStage,
  CheckpointWriteError,
  type CheckpointWriter,
  checkpointDirName,
  LATEST_POINTER,
} from './checkpoint-dir.js';
export { type OpenTokenFile, openTokenFile, readTokenFile, writeTokenFile } from './data/token-file.js';
export * from './index.js';
export { MetricsWriter, type MetricsWriterOptions, readMetrics } from './metrics.js';
export { Trainer, type TrainerOptions } from './node-trainer.js';
export { writeLossCurve, writeLossCurveFromMetrics } from './plot-file.js';
export { RUN_LOCK_FILE, RunLock, RunLockedError, type RunLockOwner } from './run-lock.js';
export { readChatJsonl } from './sft/read-jsonl.js';
export { TRAINER_OUTPUT_FILES, TrainerFiles, type TrainerFilesOptions } from './trainer-files.js';
export {
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  TRAINING_CHECKPOINT_FILES,
} from './training-checkpoint.js';
