/**
 * Crash-safe file writes (Node only; public as `@kiln/tensor/node`). The one atomic writer of the
 * repository: model directories, training checkpoints, token files, metrics and plots all use it.
 *
 * A plain `writeFile` that is interrupted (crash, power loss, Ctrl-C) leaves a truncated file
 * under the final name. Writing to a temporary file in the same directory, flushing it to disk,
 * and renaming it over the target means a reader sees either the old file or the complete new
 * one: `rename` within one filesystem is atomic. Flushing the directory afterwards makes the
 * rename itself survive a power loss.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What the atomic writers accept: text (written as UTF-8), bytes, or byte chunks written in order. */
export type FileContent = string | Uint8Array | readonly Uint8Array[];

/** A short random suffix so concurrent or leftover temporary files never collide. */
export function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Writes `content` to `path` and flushes it to disk (`fsync`) before returning. Not atomic on
 * its own; use it for files inside a directory that is itself renamed into place.
 */
export async function writeFileDurable(
  path: string,
  content: FileContent,
  flag: 'w' | 'wx' = 'w',
): Promise<void> {
  const handle = await open(path, flag);
  try {
    if (typeof content === 'string') {
      await handle.writeFile(content, 'utf8');
    } else {
      const chunks = content instanceof Uint8Array ? [content] : content;
      for (const chunk of chunks) {
        // `write` may write fewer bytes than asked for large buffers; loop until done.
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a directory's entries (new names, renames, deletions) to disk. Some platforms (Windows)
 * cannot open a directory for syncing; there the rename is still atomic, only not yet durable,
 * so those errors are ignored.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Atomically replaces `path` with `content`: writes `.<name>.tmp-<random>` in the same directory,
 * fsyncs it, renames it over `path`, and fsyncs the directory. Readers never see a partial file;
 * on failure the temporary file is removed and the old file (if any) is left untouched.
 */
export async function writeFileAtomic(path: string, content: FileContent): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp-${randomSuffix()}`);
  try {
    await writeFileDurable(temp, content, 'wx');
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dir);
}
