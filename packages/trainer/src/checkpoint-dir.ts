/**
 * Crash-safe checkpoint directories (Node only).
 *
 * Layout of a run's checkpoint directory:
 *
 * ```text
 * checkpoints/
 *   step-00001000/          a complete checkpoint: the caller's files + manifest.json
 *   step-00002000/
 *   latest                  text file naming the newest checkpoint ("step-00002000")
 *   .tmp-step-3000-…/       a checkpoint being written (or left by a crash): never read
 * ```
 *
 * A checkpoint is written into a hidden temporary directory, every file is fsynced, a
 * `manifest.json` listing the files and their sizes is written last, and only then is the
 * directory renamed to `step-N`: a rename is atomic, so a `step-N` directory is always complete.
 * The `latest` pointer is replaced atomically after that, and old checkpoints are deleted only
 * once the new one is in place. A crash at any point leaves the previous checkpoints readable.
 *
 * "Latest" means most recently saved, not highest step: each manifest carries a save sequence
 * number, one more than any checkpoint already there. So a run restarted from an older
 * checkpoint (saving step 1500 while an abandoned step 2000 exists) resumes from its own newest
 * save, and a crash between the rename and the pointer update still finds the new checkpoint.
 * The `latest` file is for people and other tools (`cat checkpoints/latest`); readers here go by
 * the manifests. One process writes a checkpoint directory at a time.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type FileContent,
  fsyncDirectory,
  randomSuffix,
  writeFileAtomic,
  writeFileDurable,
} from '@kiln/tensor/node';
import { parseJsonText } from './json-file.js';
import type { CheckpointInfo, CheckpointScan, RefusedCheckpoint } from './trainer-storage.js';

export type { CheckpointInfo, CheckpointScan, RefusedCheckpoint };

/** Name of the manifest file inside each checkpoint (reserved). */
export const CHECKPOINT_MANIFEST = 'manifest.json';
/** Name of the pointer file naming the newest checkpoint. */
export const LATEST_POINTER = 'latest';

const STEP_DIR = /^step-(\d+)$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TEMP_PREFIXES = ['.tmp-', `.${LATEST_POINTER}.tmp-`];

/** Writes files into a checkpoint being saved. */
export interface CheckpointWriter {
  /** Writes one file (a plain name such as `model.safetensors`; no directories) and fsyncs it. */
  write(name: string, content: FileContent): Promise<void>;
}

/** Points in {@link CheckpointDir.save} at which `onStage` is called (for crash-simulation tests). */
export type CheckpointStage = 'files-written' | 'renamed' | 'latest-updated';

/** Options for {@link CheckpointDir}. */
export interface CheckpointDirOptions {
  /** How many checkpoints to keep (default 3): the most recently saved; older ones are deleted after each save. */
  keep?: number;
  /**
   * Called at each stage of a save, after that stage is durable. Throwing here simulates a
   * crash at that point; tests also use it to check what a reader would see.
   */
  onStage?: (stage: CheckpointStage, step: number) => void | Promise<void>;
}

/**
 * Version 2 adds each file's SHA-256, checked on every read, so a file corrupted in place (same
 * size, different bytes: a bad disk, a bad copy) is refused instead of loaded. Version 1
 * manifests (sizes only) are still read.
 */
interface Manifest {
  format: 'kiln-checkpoint';
  version: 1 | 2;
  step: number;
  sequence: number;
  createdAt: string;
  files: Record<string, { bytes: number; sha256?: string }>;
}

/** Saving a checkpoint failed (a full disk, a directory that is not writable); earlier checkpoints are untouched. */
export class CheckpointWriteError extends Error {
  override name = 'CheckpointWriteError';
  constructor(
    message: string,
    /** The file or directory whose write failed. */
    readonly path: string,
    /** The system error code (`ENOSPC`, `EROFS`, `EACCES`, …), when there is one. */
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a system error code means for someone whose checkpoint could not be written. */
function describeWriteFailure(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const meaning: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exceeded',
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EIO: 'an I/O error (a failing disk?)',
  };
  const what = e?.code && meaning[e.code] ? `${meaning[e.code]}: ` : '';
  return `${what}${e?.message ?? String(error)}`;
}

/** A checkpoint file that does not match its manifest (size or checksum): the checkpoint is corrupt. */
export class CheckpointCorruptError extends Error {
  override name = 'CheckpointCorruptError';
}

/** The directory name of the checkpoint for `step`: `step-00000042` (8 digits, more when needed). */
export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step) || step < 0)
    throw new RangeError(`checkpoint: step must be a non-negative integer, got ${step}`);
}

function checkFileName(name: string): void {
  if (
    typeof name !== 'string' ||
    !FILE_NAME.test(name) ||
    name.length > 200 ||
    name === CHECKPOINT_MANIFEST
  ) {
    throw new TypeError(
      `checkpoint: invalid file name ${JSON.stringify(name)}; use a plain name of letters, digits, '.', '_' and '-' (not starting with '.', no directories, not '${CHECKPOINT_MANIFEST}')`,
    );
  }
}

function byteLength(content: FileContent): number {
  if (typeof content === 'string') return Buffer.byteLength(content, 'utf8');
  if (content instanceof Uint8Array) return content.byteLength;
  return content.reduce((sum, chunk) => sum + chunk.byteLength, 0);
}

function sha256(content: FileContent): string {
  const hash = createHash('sha256');
  if (typeof content === 'string' || content instanceof Uint8Array) hash.update(content);
  else for (const chunk of content) hash.update(chunk);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The names in `dir`, or none when it does not exist (yet). */
async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** A run's checkpoint directory: saves, finds and prunes checkpoints (see the file comment). */
export class CheckpointDir {
  /** The directory holding the checkpoints. */
  readonly dir: string;
  /** How many checkpoints are kept. */
  readonly keep: number;
  readonly #onStage: CheckpointDirOptions['onStage'];

  /** A checkpoint directory at `dir` (created on the first save). */
  constructor(dir: string, options: CheckpointDirOptions = {}) {
    const keep = options.keep ?? 3;
    if (!Number.isInteger(keep) || keep < 1)
      throw new RangeError(`CheckpointDir: keep must be a positive integer, got ${keep}`);
    this.dir = dir;
    this.keep = keep;
    this.#onStage = options.onStage;
  }

  /**
   * Saves a checkpoint for `step`, either from a map of file names to contents or by calling
   * `write` for each file inside a callback (to avoid holding every file in memory at once). If
   * anything throws, the partial checkpoint is removed and earlier checkpoints are untouched.
   * Saving a step that already exists throws unless `overwrite` is set.
   */
  async save(
    step: number,
    files: Record<string, FileContent> | ((writer: CheckpointWriter) => Promise<void>),
    options: { overwrite?: boolean } = {},
  ): Promise<CheckpointInfo> {
    checkStep(step);
    await mkdir(this.dir, { recursive: true });
    await this.removeStaleTemp();
    const name = checkpointDirName(step);
    const finalPath = join(this.dir, name);
    if (!options.overwrite && (await exists(finalPath))) {
      throw new Error(
        `CheckpointDir.save: ${finalPath} already exists; pass { overwrite: true } to replace it`,
      );
    }

    const sequence = 1 + Math.max(0, ...(await this.list()).map((c) => c.sequence));
    const tempPath = join(this.dir, `.tmp-step-${step}-${randomSuffix()}`);
    const manifest: Manifest = {
      format: 'kiln-checkpoint',
      version: 2,
      step,
      sequence,
      createdAt: new Date().toISOString(),
      files: {},
    };
    // The file being written when something fails, for the error (a write error names no path).
    let writing = tempPath;
    const failed = (error: unknown): CheckpointWriteError =>
      new CheckpointWriteError(
        `could not save the checkpoint of step ${step} in ${this.dir}: writing ${writing} failed (${describeWriteFailure(error)})`,
        writing,
        (error as NodeJS.ErrnoException)?.code,
        { cause: error },
      );
    try {
      await mkdir(tempPath);
      const writer: CheckpointWriter = {
        write: async (fileName, content) => {
          checkFileName(fileName);
          if (fileName in manifest.files) throw new Error(`checkpoint: file ${fileName} was written twice`);
          manifest.files[fileName] = { bytes: byteLength(content), sha256: sha256(content) };
          writing = join(tempPath, fileName);
          try {
            await writeFileDurable(writing, content, 'wx');
          } catch (error) {
            throw failed(error);
          }
        },
      };
      if (typeof files === 'function') {
        await files(writer);
      } else {
        for (const [fileName, content] of Object.entries(files)) await writer.write(fileName, content);
      }
      // The manifest goes last: a directory with a valid manifest has all its files.
      writing = join(tempPath, CHECKPOINT_MANIFEST);
      try {
        await writeFileDurable(writing, `${JSON.stringify(manifest, null, 2)}\n`, 'wx');
        writing = tempPath;
        await fsyncDirectory(tempPath);
      } catch (error) {
        throw failed(error);
      }
      await this.#onStage?.('files-written', step);
    } catch (error) {
      // A failed save leaves nothing behind (best effort: on a full disk even this may fail).
      await rm(tempPath, { recursive: true, force: true }).catch(() => {});
      if (error instanceof CheckpointWriteError || (error as NodeJS.ErrnoException)?.code === undefined)
        throw error;
      throw failed(error); // e.g. mkdir of the temporary directory
    }

    if (await exists(finalPath)) await this.#removeDir(finalPath); // only reachable with overwrite
    await rename(tempPath, finalPath);
    await fsyncDirectory(this.dir);
    await this.#onStage?.('renamed', step);
    // The checkpoint is complete and found by its manifest; the pointer is for people.
    writing = join(this.dir, LATEST_POINTER);
    try {
      await writeFileAtomic(writing, `${name}\n`);
    } catch (error) {
      throw failed(error);
    }
    await this.#onStage?.('latest-updated', step);
    await this.#prune();
    return infoFrom(manifest, finalPath);
  }

  /** All complete checkpoints, in the order they were saved. Incomplete or foreign directories are ignored (see {@link scan}). */
  async list(): Promise<CheckpointInfo[]> {
    return (await this.scan()).checkpoints;
  }

  /**
   * Every `step-N` directory: the complete checkpoints in the order they were saved, and those
   * refused with the reason (no manifest, an unreadable or foreign one, a file missing or of
   * the wrong size). A resume uses this to say which checkpoints it could not use, instead of
   * silently treating a run whose checkpoints are all broken as a run without checkpoints.
   * (Checksums are checked when a file is read, not here, so a scan stays cheap.)
   */
  async scan(): Promise<CheckpointScan> {
    const entries = await readdirOrEmpty(this.dir);
    const checkpoints: CheckpointInfo[] = [];
    const refused: RefusedCheckpoint[] = [];
    for (const entry of entries.sort()) {
      if (!STEP_DIR.test(entry)) continue;
      const result = await this.#readComplete(entry);
      if ('reason' in result) refused.push(result);
      else checkpoints.push(result);
    }
    checkpoints.sort((a, b) => a.sequence - b.sequence || a.step - b.step);
    return { checkpoints, refused };
  }

  /** The checkpoint to resume from: the most recently saved complete one, or `undefined` when there is none. */
  async latest(): Promise<CheckpointInfo | undefined> {
    return (await this.list()).at(-1);
  }

  /** Reads one file of a checkpoint. */
  async read(checkpoint: CheckpointInfo, name: string): Promise<Uint8Array> {
    checkFileName(name);
    if (!(name in checkpoint.files)) {
      throw new Error(
        `checkpoint ${checkpoint.path} has no file ${name}; it has ${Object.keys(checkpoint.files).join(', ') || 'no files'}`,
      );
    }
    const path = join(checkpoint.path, name);
    const buffer = await readFile(path);
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (bytes.byteLength !== checkpoint.files[name]) {
      throw new CheckpointCorruptError(
        `checkpoint ${checkpoint.path}: ${name} is ${bytes.byteLength} bytes but the manifest says ${checkpoint.files[name]}; the file was changed or truncated after the checkpoint was written`,
      );
    }
    const expected = checkpoint.sha256?.[name];
    if (expected !== undefined) {
      const actual = sha256(bytes);
      if (actual !== expected) {
        throw new CheckpointCorruptError(
          `checkpoint ${checkpoint.path}: ${name} does not match its sha256 in the manifest (expected ${expected.slice(0, 12)}…, found ${actual.slice(0, 12)}…); the file is corrupt (changed in place after it was written)`,
        );
      }
    }
    return bytes;
  }

  /** Reads one file of a checkpoint as UTF-8 text. */
  async readText(checkpoint: CheckpointInfo, name: string): Promise<string> {
    return new TextDecoder().decode(await this.read(checkpoint, name));
  }

  /** Deletes temporary directories and files left by interrupted saves. Returns their names. */
  async removeStaleTemp(): Promise<string[]> {
    const entries = await readdirOrEmpty(this.dir);
    const stale = entries.filter((e) => TEMP_PREFIXES.some((prefix) => e.startsWith(prefix)));
    for (const entry of stale) await rm(join(this.dir, entry), { recursive: true, force: true });
    return stale;
  }

  /** The checkpoint in directory `entry` if it is complete (valid manifest, every file present with its size), else why not. */
  async #readComplete(entry: string): Promise<CheckpointInfo | RefusedCheckpoint> {
    const path = join(this.dir, entry);
    const step = Number(STEP_DIR.exec(entry)![1]);
    const manifestPath = join(path, CHECKPOINT_MANIFEST);
    const refuse = (reason: string): RefusedCheckpoint => ({ step, path, reason });
    let manifest: Manifest;
    try {
      const text = await readFile(manifestPath, 'utf8');
      manifest = parseJsonText(text, manifestPath, 'a Kiln checkpoint manifest') as Manifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return refuse(`it has no ${CHECKPOINT_MANIFEST} (an incomplete or foreign directory)`);
      return refuse((error as Error).message);
    }
    if (
      manifest?.format !== 'kiln-checkpoint' ||
      manifest.step !== step ||
      !Number.isSafeInteger(manifest.sequence) ||
      typeof manifest.files !== 'object' ||
      manifest.files === null
    ) {
      return refuse(
        `${manifestPath} is not a Kiln checkpoint manifest for step ${step} (expected { "format": "kiln-checkpoint", "step": ${step}, "sequence", "files" })`,
      );
    }
    for (const [name, { bytes }] of Object.entries(manifest.files)) {
      let size: number;
      try {
        size = (await stat(join(path, name))).size;
      } catch (error) {
        return refuse(
          `${name} is missing (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
      if (size !== bytes)
        return refuse(`${name} is ${size} bytes but the manifest says ${bytes} (truncated or changed)`);
    }
    return infoFrom(manifest, path);
  }

  /** Deletes all but the `keep` most recently saved checkpoints (the one just saved is the most recent). */
  async #prune(): Promise<void> {
    const all = await this.list();
    for (const checkpoint of all.slice(0, Math.max(0, all.length - this.keep)))
      await this.#removeDir(checkpoint.path);
  }

  /** Removes a checkpoint directory by first renaming it out of sight, so a crash mid-delete leaves no half directory. */
  async #removeDir(path: string): Promise<void> {
    const doomed = join(this.dir, `.tmp-delete-${randomSuffix()}`);
    await rename(path, doomed);
    await fsyncDirectory(this.dir);
    await rm(doomed, { recursive: true, force: true });
  }
}

function infoFrom(manifest: Manifest, path: string): CheckpointInfo {
  const entries = Object.entries(manifest.files);
  const files = Object.fromEntries(entries.map(([name, { bytes }]) => [name, bytes]));
  const info: CheckpointInfo = {
    step: manifest.step,
    path,
    files,
    sequence: manifest.sequence,
    createdAt: manifest.createdAt,
  };
  if (entries.every(([, f]) => typeof f.sha256 === 'string'))
    info.sha256 = Object.fromEntries(entries.map(([name, f]) => [name, f.sha256!]));
  return info;
}
