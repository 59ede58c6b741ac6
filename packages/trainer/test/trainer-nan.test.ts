// A NaN loss stops training with an error naming the step, and the last good checkpoint survives.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { loadSafetensors } from '@kiln/tensor/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointDir, NonFiniteError, readMetrics, TokenDataset, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
const data = new TokenDataset(tokens, { contextLength: 8 });
const root = mkdtempSync(join(tmpdir(), 'kiln-nan-'));

beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('non-finite loss', () => {
  it('stops with an error naming the step and keeps the last good checkpoint', async () => {
    manualSeed(3);
    const model = new TinyLM(vocabSize);
    const outDir = join(root, 'run');
    const trainer = new Trainer({
      model,
      data,
      outDir,
      progress: false,
      config: {
        steps: 20,
        batchSize: 4,
        logInterval: 5,
        checkpointInterval: 3,
        evalInterval: 100,
        evalWindows: 2,
        schedule: { kind: 'constant', lr: 0.01 },
      },
      // Step 7's forward pass produces a NaN loss (and so NaN gradients).
      callbacks: { onStep: ({ step }) => void (step === 6 ? (model.lossScale = Number.NaN) : undefined) },
    });
    const error = await trainer.train().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteError);
    const e = error as NonFiniteError;
    expect(e.step).toBe(7);
    expect(e.what).toEqual(['loss', 'gradNorm']);
    expect(e.message).toMatch(
      /^training stopped at step 7: the training loss is NaN and the gradient norm is NaN/,
    );
    expect(e.message).toMatch(/last good checkpoint is step 6/);
    // The NaN is found at the step-9 checkpoint's check, so no checkpoint after step 6 exists.
    const latest = await new CheckpointDir(join(outDir, 'checkpoints')).latest();
    expect(latest?.step).toBe(6);
    const { tensors } = await loadSafetensors(join(latest!.path, 'model.safetensors'));
    for (const [name, t] of Object.entries(tensors)) {
      expect(Array.from(await t.data()).every(Number.isFinite), name).toBe(true);
    }
    // The log holds the good steps only.
    const steps = (await readMetrics(join(outDir, 'metrics.jsonl')))
      .filter((r) => 'loss' in r)
      .map((r) => r.step);
    expect(steps).toEqual([1, 5]);
  });
});
