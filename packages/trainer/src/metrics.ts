/**
 * Append-only JSONL metrics files (Node only). Format and parser: `metrics-jsonl.ts`.
 */
import { open, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@kiln/tensor/node';
import { formatMetricsLine, type MetricsRecord, parseMetricsJsonl } from './metrics-jsonl.js';

/** Options for {@link MetricsWriter.open}. */
export interface MetricsWriterOptions {
  /**
   * When resuming from a checkpoint at step S, pass S: records with `step > S` (written by the
   * interrupted run after its last checkpoint) are removed first, so the resumed run does not
   * log those steps twice.
   */
  truncateAfterStep?: number;
  /** Also `fsync` after every record (default false; each record is always handed to the OS). */
  fsync?: boolean;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Appends metrics records to a JSONL file, one line per record, each written to the file (not
 * buffered in memory) before `write` resolves. Writes are applied in call order.
 */
export class MetricsWriter {
  /** The metrics file. */
  readonly path: string;
  readonly #handle: Awaited<ReturnType<typeof open>>;
  readonly #fsync: boolean;
  #pending: Promise<void> = Promise.resolve();
  #closed = false;

  /** Use {@link MetricsWriter.open}. */
  private constructor(path: string, handle: Awaited<ReturnType<typeof open>>, fsync: boolean) {
    this.path = path;
    this.#handle = handle;
    this.#fsync = fsync;
  }

  /**
   * Opens (creating if needed) a metrics file for appending. A torn last line left by a crash is
   * removed, and so are records after `truncateAfterStep` when given.
   */
  static async open(path: string, options: MetricsWriterOptions = {}): Promise<MetricsWriter> {
    const existing = await readIfExists(path);
    if (existing !== undefined && existing !== '') {
      const tornTail = !existing.endsWith('\n');
      const cut = options.truncateAfterStep;
      if (tornTail || cut !== undefined) {
        const kept = parseMetricsJsonl(existing, path).filter((r) => cut === undefined || r.step <= cut);
        await writeFileAtomic(path, kept.map(formatMetricsLine).join(''));
      }
    }
    return new MetricsWriter(path, await open(path, 'a'), options.fsync ?? false);
  }

  /** Appends one record. */
  write(record: MetricsRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`MetricsWriter(${this.path}): write after close()`));
    const line = formatMetricsLine(record); // validate now, so the error points at the caller
    const next = this.#pending.then(async () => {
      await this.#handle.appendFile(line, 'utf8');
      if (this.#fsync) await this.#handle.sync();
    });
    this.#pending = next.catch(() => {}); // one failed write must not block later ones
    return next;
  }

  /** Waits for pending writes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pending;
    await this.#handle.close();
  }

  /** `await using metrics = await MetricsWriter.open(path)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Reads all records of a JSONL metrics file (dropping a torn last line). */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  return parseMetricsJsonl(await readFile(path, 'utf8'), path);
}
