// A disk that fills up (or a run directory that stops being writable) in the middle of a
// checkpoint write: the previous checkpoint stays intact and loadable, the error names the path
// and the cause, and the training state in memory is not lost (saving again once there is space
// gives the checkpoint that failed). The fault is injected into the file writer of
// @kiln/tensor/node: it writes part of the file for real, then fails as the OS would.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/** When set, the next durable write of a file whose name matches fails part-way with this code. */
const fault: { file: RegExp | null; code: string } = { file: null, code: 'ENOSPC' };

vi.mock('@kiln/tensor/node', async (importOriginal) => {
  const real = await importOriginal<typeof import('@kiln/tensor/node')>();
  const { open } = await import('node:fs/promises');
  return {
    ...real,
    writeFileDurable: async (
      path: string,
      content: Parameters<typeof real.writeFileDurable>[1],
      flag?: 'w' | 'wx',
    ) => {
      if (!fault.file?.test(path)) return real.writeFileDurable(path, content, flag);
      fault.file = null;
      const bytes =
        typeof content === 'string'
          ? Buffer.from(content)
          : content instanceof Uint8Array
            ? content
            : Buffer.concat(content);
      const handle = await open(path, flag ?? 'w');
      try {
        await handle.write(bytes, 0, Math.floor(bytes.byteLength / 2)); // half of it reaches the disk
      } finally {
        await handle.close();
      }
      const message = fault.code === 'ENOSPC' ? 'no space left on device' : 'read-only file system';
      throw Object.assign(new Error(`${fault.code}: ${message}, write`), {
        code: fault.code,
        syscall: 'write',
      });
    },
  };
});

const { CheckpointDir, TokenDataset, Trainer, loadTrainingCheckpoint } = await import('../src/node.js');
const { denseTokens, mobyDickBytes } = await import('./helpers/text.js');
const { TinyLM } = await import('./helpers/tiny-lm.js');

const { tokens, vocabSize } = denseTokens(mobyDickBytes(1500));
const data = new TokenDataset(tokens, { contextLength: 8 });
const root = mkdtempSync(join(tmpdir(), 'kiln-write-failure-'));

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function trainer(outDir: string) {
  manualSeed(5);
  return new Trainer({
    model: new TinyLM(vocabSize),
    data,
    outDir,
    progress: false,
    config: {
      steps: 4,
      batchSize: 2,
      logInterval: 1,
      checkpointInterval: 2,
      evalInterval: 100,
      evalWindows: 2,
      schedule: { kind: 'constant' as const, lr: 0.01 },
    },
    callbacks: {
      // the disk fills up while step 4's checkpoint is written, inside optimizer.safetensors
      onStep: ({ step }) => void (step === 4 ? (fault.file = /optimizer\.safetensors$/) : undefined),
    },
  });
}

describe('a checkpoint write that fails part-way', () => {
  for (const code of ['ENOSPC', 'EROFS']) {
    it(`${code}: names the path and the cause, keeps the previous checkpoint, loses no state`, async () => {
      fault.code = code;
      const outDir = join(root, code);
      const t = trainer(outDir);
      const error = await t.train().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      const checkpoints = join(outDir, 'checkpoints');
      expect(error!.message).toMatch(new RegExp(`could not save the checkpoint of step 4 in ${checkpoints}`));
      expect(error!.message).toContain('optimizer.safetensors');
      expect(error!.message).toContain(code);
      expect(error!.message).toMatch(/The last checkpoint, step 2 \(.*step-00000002\), is intact/);
      expect(error!.message).toMatch(/saveCheckpoint\(\)/);

      // The previous checkpoint is intact and loadable; no partial directory is left behind.
      const dir = new CheckpointDir(checkpoints);
      expect((await dir.list()).map((c) => c.step)).toEqual([2]);
      expect(readdirSync(checkpoints).filter((n) => n.startsWith('.tmp'))).toEqual([]);
      const other = trainer(join(root, `${code}-other`));
      const { state } = await loadTrainingCheckpoint(dir, (await dir.latest())!, {
        model: other.model,
        optimizer: other.optimizer,
        data: { state: () => null, restore: () => {} },
      });
      expect(state.step).toBe(2);

      // The state in memory is still step 4's: once there is space, saving again works.
      expect(t.step).toBe(4);
      const saved = await t.saveCheckpoint();
      expect(saved.step).toBe(4);
      expect(statSync(join(saved.path, 'optimizer.safetensors')).size).toBe(
        saved.files['optimizer.safetensors'],
      );
      expect((await dir.latest())!.step).toBe(4);
    });
  }
});
