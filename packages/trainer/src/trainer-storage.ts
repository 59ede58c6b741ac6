/**
 * Where a `Trainer` keeps what outlives a run: the metrics log, the loss plot and the
 * checkpoints. The trainer itself touches no files, so it runs in browsers; `@kiln/trainer/node`
 * implements this on a directory (`TrainerFiles`), and a browser app can implement it on
 * IndexedDB or the origin-private file system.
 */
import type { JsonValue } from './data/token-format.js';
import type { MetricsRecord } from './metrics-jsonl.js';
import type { RunCounters, TrainerState, TrainingParts } from './training-state.js';

/** A saved checkpoint. */
export interface CheckpointInfo {
  /** The training step it was saved at. */
  step: number;
  /** Where it is: its directory (as the checkpoint directory was given), or the storage's own name for it. */
  path: string;
  /** Files in it (excluding the manifest) and their sizes in bytes. */
  files: Record<string, number>;
  /** Save order: higher was saved later. */
  sequence: number;
  /** When it was written (ISO 8601). */
  createdAt: string;
  /** SHA-256 (hex) of each file, checked when it is read (checkpoints written before checksums have none). */
  sha256?: Record<string, string>;
}

/** A checkpoint that cannot be used, and why (named in resume errors and warnings). */
export interface RefusedCheckpoint {
  /** The step its directory name says. */
  step: number;
  /** Where it is. */
  path: string;
  /** Why it was refused: the file and what is wrong with it. */
  reason: string;
}

/** The checkpoints of a storage: those that look complete (in save order) and those refused. */
export interface CheckpointScan {
  checkpoints: CheckpointInfo[];
  refused: RefusedCheckpoint[];
}

/** An open metrics log. */
export interface MetricsLog {
  /** Appends one record. */
  write(record: MetricsRecord): Promise<void>;
  /** Waits for pending writes and closes the log. */
  close(): Promise<void>;
}

/** A trainer's persistent outputs (see the file comment). */
export interface TrainerStorage {
  /**
   * Opens the metrics log for one `train()` call. A fresh run (`resumed` false) replaces an old
   * log; a resumed one keeps the records up to `step` and drops later ones.
   */
  openMetrics(options: { resumed: boolean; step: number }): Promise<MetricsLog>;
  /** Redraws the loss plot from the metrics written so far (called after each validation); `yLabel` names the loss. */
  writePlot?(options: { title: string; yLabel?: string }): Promise<void>;
  /** Saves a checkpoint of `parts` at `run.step` with the run `config`; replaces one of the same step. */
  saveCheckpoint(parts: TrainingParts, run: RunCounters, config: JsonValue): Promise<CheckpointInfo>;
  /** The checkpoint to resume from (the most recently saved), or undefined when there is none. */
  latestCheckpoint(): Promise<CheckpointInfo | undefined>;
  /**
   * Every checkpoint, usable-looking (in save order) and refused with the reason. Optional: a
   * storage without it resumes from `latestCheckpoint()` only, with no fallback.
   */
  scanCheckpoints?(): Promise<CheckpointScan>;
  /**
   * Takes the storage's lock, so that no other trainer writes it at the same time (idempotent;
   * throws naming the owner when another trainer holds it). Optional: the trainer calls it
   * before it reads or writes anything, and {@link unlock} when `train()` ends.
   */
  lock?(): Promise<void>;
  /** Releases the lock taken by {@link lock}. */
  unlock?(): Promise<void>;
  /** Restores `checkpoint` into `parts` (weights, optimizer, data position, RNG); returns its state and run config. */
  loadCheckpoint(
    checkpoint: CheckpointInfo,
    parts: TrainingParts,
  ): Promise<{ state: TrainerState; config: JsonValue }>;
}
