// A device that is lost or out of memory mid-run: the error says what happened, at which step,
// and where the last checkpoint is; the checkpoint and the metrics logged so far survive.
// On the CPU the failure is simulated (an op throwing the backend's out-of-memory error); on
// WebGPU the device is really destroyed behind the backend's back (skipped without an adapter).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Backend,
  BackendError,
  destroyBackend,
  init,
  initBackend,
  manualSeed,
  type Tensor,
} from '@kiln/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointDir, readMetrics, TokenDataset, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(1500));
const data = new TokenDataset(tokens, { contextLength: 8 });
let gpu: Backend | undefined;
try {
  gpu = await initBackend('webgpu');
} catch {
  gpu = undefined;
}
const root = mkdtempSync(join(tmpdir(), 'kiln-device-failure-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = {
  steps: 8,
  batchSize: 2,
  logInterval: 1,
  checkpointInterval: 2,
  evalInterval: 100,
  evalWindows: 2,
  schedule: { kind: 'constant' as const, lr: 0.01 },
};

class FailingLM extends TinyLM {
  failAt = Number.POSITIVE_INFINITY;
  calls = 0;
  override forward(ids: Tensor, targets: Tensor) {
    if (this.training && ++this.calls === this.failAt) {
      throw new BackendError(
        'webgpu: matmul failed (out of memory): Failed to allocate a buffer of 2147483648 bytes',
      );
    }
    return super.forward(ids, targets);
  }
}

describe('device failure mid-run', () => {
  it('out of memory (simulated on the CPU): names the step, what happened and the last checkpoint', async () => {
    await init({ backend: 'cpu', quiet: true });
    manualSeed(6);
    const model = new FailingLM(vocabSize);
    model.failAt = 5;
    const outDir = join(root, 'oom');
    const error = await new Trainer({ model, data, outDir, progress: false, config }).train().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(BackendError);
    const checkpoint = join(outDir, 'checkpoints', 'step-00000004');
    expect(error!.message).toMatch(
      /^training stopped at step 5 \(4 steps completed\): webgpu: matmul failed \(out of memory\)/,
    );
    expect(error!.message).toContain(`The last checkpoint is step 4 (${checkpoint})`);
    expect(error!.message).toMatch(/resume/);
    expect((await new CheckpointDir(join(outDir, 'checkpoints')).latest())!.step).toBe(4);
    const logged = (await readMetrics(join(outDir, 'metrics.jsonl'))).map((r) => r.step);
    expect(logged).toEqual([0, 1, 2, 3, 4]);
  });

  it.skipIf(!gpu)(
    'device lost on WebGPU: says the device was lost and where the last checkpoint is',
    async () => {
      await init({ backend: 'webgpu', quiet: true });
      try {
        manualSeed(7);
        const outDir = join(root, 'lost');
        const error = await new Trainer({
          model: new TinyLM(vocabSize),
          data,
          outDir,
          progress: false,
          config,
          callbacks: {
            onStep: ({ step }) => {
              if (step === 3) (gpu as unknown as { debugLoseDevice(): void }).debugLoseDevice();
            },
          },
        })
          .train()
          .then(
            () => undefined,
            (e: unknown) => e as Error,
          );
        expect(error).toBeInstanceOf(BackendError);
        expect(error!.message).toMatch(
          /^training stopped at step \d+ \(\d+ steps completed\): .*the GPU device was lost/,
        );
        expect(error!.message).toContain(
          `The last checkpoint is step 2 (${join(outDir, 'checkpoints', 'step-00000002')})`,
        );
        expect((await new CheckpointDir(join(outDir, 'checkpoints')).latest())!.step).toBe(2);
      } finally {
        await destroyBackend('webgpu');
        await init({ backend: 'cpu', quiet: true });
      }
    },
  );
});
