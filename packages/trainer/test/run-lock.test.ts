// Two trainers on one run directory: the second gets a clear error naming the owner's process
// id, instead of both writing checkpoints into it; a lock left by a process that is gone is
// detected as stale and taken over with a warning.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RUN_LOCK_FILE, RunLockedError, TokenDataset, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(1500));
const data = new TokenDataset(tokens, { contextLength: 8 });
const root = mkdtempSync(join(tmpdir(), 'kiln-run-lock-'));
const config = {
  steps: 2,
  batchSize: 2,
  logInterval: 1,
  checkpointInterval: 2,
  evalInterval: 100,
  evalWindows: 2,
  schedule: { kind: 'constant' as const, lr: 0.01 },
};

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function trainer(outDir: string): Trainer<TinyLM> {
  manualSeed(4);
  return new Trainer({ model: new TinyLM(vocabSize), data, outDir, progress: false, config });
}

function writeLock(outDir: string, pid: number): string {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, RUN_LOCK_FILE);
  writeFileSync(
    path,
    JSON.stringify({ pid, hostname: hostname(), startedAt: new Date().toISOString(), command: 'pnpm demo' }),
  );
  return path;
}

describe('run-directory lock', () => {
  it('refuses a second trainer on a directory another live process holds, naming its pid', async () => {
    const outDir = join(root, 'held');
    const lock = writeLock(outDir, process.ppid); // a live process that is not this one
    const error = await trainer(outDir)
      .train()
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(error).toBeInstanceOf(RunLockedError);
    expect(error!.message).toContain(outDir);
    expect(error!.message).toContain(`pid ${process.ppid}`);
    expect(error!.message).toMatch(/pnpm demo/);
    expect(error!.message).toContain(lock);
    expect(existsSync(join(outDir, 'checkpoints'))).toBe(false); // nothing was written
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.ppid); // and the lock is theirs still
  });

  it('refuses a second Trainer in the same process while the first holds the directory', async () => {
    const outDir = join(root, 'same-process');
    const first = trainer(outDir);
    await first.resume(); // takes the lock
    await expect(trainer(outDir).resume()).rejects.toThrow(/in use by another Trainer in this process/);
    await first.train(); // releases it when done
    expect(existsSync(join(outDir, RUN_LOCK_FILE))).toBe(false);
    await trainer(outDir).train(); // free again
  });

  it('takes over a stale lock (its process is gone) with a warning', async () => {
    const outDir = join(root, 'stale');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid is free
    writeLock(outDir, gone);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const result = await trainer(outDir).train();
    expect(result.step).toBe(2);
    expect(warn.mock.calls.join('\n')).toMatch(new RegExp(`stale lock .*pid ${gone}.*not running`));
    expect(existsSync(join(outDir, RUN_LOCK_FILE))).toBe(false);
  });
});
