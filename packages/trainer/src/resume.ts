/**
 * Choosing the checkpoint a resume continues from, so that a resume never silently starts
 * over. The candidates are tried newest first; each one that cannot be used (a file missing,
 * truncated, failing its checksum, unparsable) is refused with the reason. Then:
 *
 * - a good one found after refusing newer ones: resume from it, and say so (a warning naming
 *   each refused checkpoint, why, and the step resumed from; the trainer also writes it to the
 *   metrics log);
 * - none usable, but some existed: a {@link ResumeError} naming each one tried and why, unless
 *   the caller passed `ifUnusable: 'start-fresh'`, which starts from step 0 with a warning;
 * - no checkpoint at all: start from step 0 (a new run).
 *
 * Pure (no Node imports): any {@link TrainerStorage} with `scanCheckpoints` gets the fallback.
 */
import type { CheckpointInfo, RefusedCheckpoint, TrainerStorage } from './trainer-storage.js';

/** Options of `Trainer.resume`. */
export interface ResumeOptions {
  /**
   * What to do when the run has checkpoints but none can be used: `'error'` (default) throws a
   * {@link ResumeError} naming each; `'start-fresh'` starts from step 0 with a warning (the
   * refused checkpoints stay until the new run saves one of the same step, or prunes them).
   */
  ifUnusable?: 'error' | 'start-fresh';
}

/** A resume found checkpoints but could use none of them; `refused` says which and why. */
export class ResumeError extends Error {
  override name = 'ResumeError';
  constructor(
    message: string,
    /** Every checkpoint tried, with the reason it was refused. */
    readonly refused: RefusedCheckpoint[],
  ) {
    super(message);
  }
}

/** What {@link chooseResumePoint} settled on. */
export interface ResumePoint<T> {
  /** The checkpoint restored, or undefined to start from step 0. */
  checkpoint: CheckpointInfo | undefined;
  /** What loading it returned. */
  loaded: T | undefined;
  /** Checkpoints refused on the way (newer than the one restored, or all when none was). */
  refused: RefusedCheckpoint[];
}

function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return cut > 0 ? path.slice(0, cut) : path;
}

function list(refused: RefusedCheckpoint[]): string {
  return refused.map((r) => `  - step ${r.step} (${r.path}): ${r.reason}`).join('\n');
}

/** One line per refused checkpoint, for warnings. */
export function describeRefused(refused: RefusedCheckpoint[]): string {
  return refused.map((r) => `refused checkpoint step ${r.step} (${r.path}): ${r.reason}`).join('; ');
}

/**
 * Tries the storage's checkpoints newest first with `load` (which must change nothing when it
 * throws) and returns the first that loads, with those refused before it (see the file comment).
 */
export async function chooseResumePoint<T>(
  storage: TrainerStorage,
  load: (checkpoint: CheckpointInfo) => Promise<T>,
  options: ResumeOptions = {},
): Promise<ResumePoint<T>> {
  const ifUnusable = options.ifUnusable ?? 'error';
  if (ifUnusable !== 'error' && ifUnusable !== 'start-fresh') {
    throw new TypeError(
      `Trainer.resume: ifUnusable must be 'error' or 'start-fresh', got ${JSON.stringify(ifUnusable)}`,
    );
  }
  let candidates: CheckpointInfo[];
  let refusedInScan: RefusedCheckpoint[];
  if (storage.scanCheckpoints) {
    const scan = await storage.scanCheckpoints();
    candidates = [...scan.checkpoints].reverse();
    refusedInScan = scan.refused;
  } else {
    const latest = await storage.latestCheckpoint();
    candidates = latest ? [latest] : [];
    refusedInScan = [];
  }
  const failed: RefusedCheckpoint[] = [];
  for (const checkpoint of candidates) {
    try {
      const loaded = await load(checkpoint);
      // Refused directories of a later step than the one restored are work being skipped; say so.
      const skipped = refusedInScan.filter((r) => r.step > checkpoint.step);
      return { checkpoint, loaded, refused: [...failed, ...skipped].sort((a, b) => b.step - a.step) };
    } catch (error) {
      failed.push({ step: checkpoint.step, path: checkpoint.path, reason: (error as Error).message });
    }
  }
  const refused = [...failed, ...refusedInScan].sort((a, b) => b.step - a.step);
  if (refused.length === 0) return { checkpoint: undefined, loaded: undefined, refused };
  if (ifUnusable === 'start-fresh') return { checkpoint: undefined, loaded: undefined, refused };
  throw new ResumeError(
    `Trainer.resume: no usable checkpoint in ${parentOf(refused[0].path)}; tried ${refused.length}:\n${list(refused)}\n` +
      "Nothing was changed. Restore the damaged files (or copy a good checkpoint in), or pass { ifUnusable: 'start-fresh' } to train from step 0 instead (the refused checkpoints stay until the new run replaces or prunes them).",
    refused,
  );
}
