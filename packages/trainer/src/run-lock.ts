/**
 * A lock on a run directory (Node only), so two trainers never write one run: a second
 * `pnpm demo` while one is running would otherwise interleave checkpoints, prune the other's
 * and truncate its metrics log. The lock is a file, `outDir/run.lock`, created exclusively
 * (`wx`), holding the owner's process id, host, start time and command line:
 *
 * - held by a live process: {@link RunLockedError}, naming the directory, the pid, the host,
 *   the command and the lock file (to delete by hand if the owner is known to be gone);
 * - held by a process that is gone (same host, pid not running), or unreadable and older than
 *   a few seconds (a crash while writing it): stale, taken over with a warning;
 * - held by another `RunLock` of this process: refused as well (two `Trainer`s on one dir).
 *
 * The lock is released by {@link RunLock.release} and, failing that, when the process exits; a
 * `kill -9` leaves the file, which the next start finds stale.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The lock file's name inside a run directory. */
export const RUN_LOCK_FILE = 'run.lock';

/** A lock younger than this that cannot be read is assumed to be being written. */
const UNREADABLE_GRACE_MS = 5000;

/** What the lock file holds. */
export interface RunLockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  command: string;
  /** Tells apart two locks of one process. */
  token?: string;
}

/** The run directory is locked by another trainer. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  constructor(
    message: string,
    /** The lock file. */
    readonly path: string,
    /** Who holds it. */
    readonly owner: RunLockOwner,
  ) {
    super(message);
  }
}

/** Locks this process holds, by lock-file path, so exit can remove them. */
const held = new Map<string, string>();
let exitHookInstalled = false;

function removeHeldOnExit(): void {
  for (const [path, token] of held) {
    try {
      const owner = JSON.parse(readFileSync(path, 'utf8')) as RunLockOwner;
      if (owner.pid === process.pid && owner.token === token) unlinkSync(path);
    } catch {
      // already gone, or not ours any more
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** A run directory's lock (see the file comment). */
export class RunLock {
  /** The lock file. */
  readonly path: string;
  readonly #token = Math.random().toString(36).slice(2);
  #held = false;

  /** The lock of run directory `dir` (nothing is taken until {@link acquire}). */
  constructor(readonly dir: string) {
    this.path = join(dir, RUN_LOCK_FILE);
  }

  /** Whether this lock is held. */
  get held(): boolean {
    return this.#held;
  }

  /** Takes the lock (idempotent); throws a {@link RunLockedError} when another trainer holds it. */
  async acquire(): Promise<void> {
    if (this.#held) return;
    await mkdir(this.dir, { recursive: true });
    const me: RunLockOwner = {
      pid: process.pid,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      command: process.argv.slice(1).join(' '),
      token: this.#token,
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(this.path, `${JSON.stringify(me)}\n`, { flag: 'wx' });
        this.#held = true;
        held.set(this.path, this.#token);
        if (!exitHookInstalled) {
          process.once('exit', removeHeldOnExit);
          exitHookInstalled = true;
        }
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new Error(
            `cannot lock the run directory ${this.dir}: creating ${this.path} failed (${(error as Error).message})`,
          );
        }
      }
      await this.#checkExisting();
    }
    throw new Error(`cannot lock the run directory ${this.dir}: ${this.path} keeps reappearing`);
  }

  /** Releases the lock if held (removes the file when it is still ours). */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    held.delete(this.path);
    try {
      const owner = JSON.parse(await readFile(this.path, 'utf8')) as RunLockOwner;
      if (owner.pid === process.pid && owner.token === this.#token) await unlink(this.path);
    } catch {
      // gone already
    }
  }

  /** The lock file exists: throws when its owner is alive; removes it when it is stale. */
  async #checkExisting(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // released meanwhile: retry
      throw error;
    }
    let owner: RunLockOwner | undefined;
    try {
      owner = JSON.parse(text) as RunLockOwner;
      if (!Number.isSafeInteger(owner?.pid)) owner = undefined;
    } catch {
      owner = undefined;
    }
    if (!owner) {
      const age = Date.now() - (await stat(this.path)).mtimeMs;
      if (age < UNREADABLE_GRACE_MS) {
        throw new RunLockedError(
          `the run directory ${this.dir} is being locked by another trainer (${this.path} was created ${Math.round(age)} ms ago and is not complete yet); use another output directory or wait for it`,
          this.path,
          { pid: -1, hostname: '', startedAt: '', command: '' },
        );
      }
      console.warn(`[kiln] removing the unreadable stale lock ${this.path} (no owner can be read from it)`);
      await unlink(this.path).catch(() => {});
      return;
    }
    const sameHost = owner.hostname === hostname();
    if (sameHost && owner.pid === process.pid) {
      throw new RunLockedError(
        `the run directory ${this.dir} is in use by another Trainer in this process (since ${owner.startedAt}); use one Trainer per output directory, or let the first finish`,
        this.path,
        owner,
      );
    }
    if (sameHost && !isRunning(owner.pid)) {
      console.warn(
        `[kiln] taking over the stale lock ${this.path}: its owner, pid ${owner.pid} (${owner.command || 'unknown command'}, since ${owner.startedAt}), is not running`,
      );
      await unlink(this.path).catch(() => {});
      return;
    }
    const where = sameHost ? '' : ` on host ${owner.hostname}`;
    throw new RunLockedError(
      `the run directory ${this.dir} is in use by another trainer: pid ${owner.pid}${where} (${owner.command || 'unknown command'}), since ${owner.startedAt}. Two trainers on one directory would overwrite each other's checkpoints. Wait for it to finish, stop it, or use another output directory; if that process is gone${sameHost ? '' : ' (it runs on another host, so this cannot be checked)'}, delete ${this.path}`,
      this.path,
      owner,
    );
  }
}
