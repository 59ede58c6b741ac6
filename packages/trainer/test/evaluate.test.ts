// Validation metrics: the loss is the token-weighted mean over windows, computed without
// gradients and in eval mode; perplexity and bits per byte follow from it.
import { noGrad } from '@kiln/autograd';
import { init, manualSeed } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchToTensors,
  bitsPerByte,
  bytesPerToken,
  evaluate,
  TokenDataset,
  unigramEntropy,
} from '../src/index.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('evaluate', () => {
  it('averages the loss over every validation token, in eval mode, and restores the mode', async () => {
    const { tokens, vocabSize } = denseTokens(mobyDickBytes(3000));
    const data = new TokenDataset(tokens, { contextLength: 8 });
    manualSeed(1);
    const model = new TinyLM(vocabSize, 16, 0.5); // dropout would change the loss in training mode
    // Reference: one batch per window, mean of the per-window means (all windows are equally long).
    let sum = 0;
    let windows = 0;
    model.eval();
    for (const batch of data.validationBatches(1, { maxWindows: 10 })) {
      const { inputs, targets } = batchToTensors(batch);
      sum += await noGrad(() => model.forward(inputs, targets).loss).item();
      windows++;
    }
    model.train();
    const result = await evaluate(model, data, { batchSize: 4, maxWindows: 10, bytesPerToken: 1.5 });
    expect(windows).toBe(10);
    expect(result.tokens).toBe(80);
    expect(result.loss).toBeCloseTo(sum / windows, 5);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.loss), 10);
    expect(result.bitsPerByte).toBeCloseTo(result.loss / Math.LN2 / 1.5, 10);
    expect(model.training).toBe(true);
    const again = await evaluate(model, data, { batchSize: 3, maxWindows: 10 });
    expect(again.loss).toBeCloseTo(result.loss, 5); // batching does not change the mean
    expect(again.bitsPerByte).toBeUndefined();
  });

  it('derives bytes per token from token-file metadata', () => {
    expect(bytesPerToken({ metadata: { sourceBytes: 1000 }, tokenCount: 400 })).toBe(2.5);
    expect(bytesPerToken({ metadata: {}, tokenCount: 400 })).toBeUndefined();
    expect(bitsPerByte(Math.LN2 * 3, 1.5)).toBeCloseTo(2, 12);
  });

  it('computes the unigram entropy in nats', () => {
    expect(unigramEntropy([1, 1, 2, 2])).toBeCloseTo(Math.LN2, 12);
    expect(unigramEntropy([5, 5, 5])).toBe(0);
    expect(unigramEntropy([0, 1, 2, 3])).toBeCloseTo(Math.log(4), 12);
    expect(() => unigramEntropy([])).toThrow(/no tokens/);
  });
});
