/**
 * withAdaptersDisabled: inside it a LoRA model computes exactly its base (the same logits as the
 * model before applyLoRA), outside it the adapters are back; errors for a model without
 * adapters and for an async function. On cpu.
 */
import { manualSeed, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import { applyLoRA, GPT, withAdaptersDisabled } from '../src/index.js';
import { initCpu, maxAbsDiff } from './helpers.js';
import { randomizeB, uniform } from './lora-reference.js';

await initCpu();

describe('withAdaptersDisabled', () => {
  test('computes the base inside, the adapted model outside', async () => {
    manualSeed(3);
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 30,
      contextLength: 8,
      nLayers: 2,
      nHeads: 2,
      dModel: 16,
    });
    const ids = tensor([[1, 2, 3, 4, 5]], { dtype: 'int32' });
    const base = await model.forward(ids).logits.data();
    applyLoRA(model, { rank: 2, alpha: 4, targets: 'all-linear', seed: 1 });
    randomizeB(model, uniform(5));
    const adapted = await model.forward(ids).logits.data();
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);
    const disabled = await withAdaptersDisabled(model, () => model.forward(ids).logits).data();
    expect(maxAbsDiff(disabled, base)).toBeLessThan(1e-6);
    expect(maxAbsDiff(await model.forward(ids).logits.data(), adapted)).toBe(0);
    expect(() =>
      withAdaptersDisabled(model, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(maxAbsDiff(await model.forward(ids).logits.data(), adapted)).toBe(0);
  });
  test('errors name what is wrong', () => {
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 30,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
    });
    expect(() => withAdaptersDisabled(model, () => 1)).toThrow(/no LoRA adapters/);
    applyLoRA(model, { rank: 2, alpha: 4, targets: 'all-linear' });
    expect(() => withAdaptersDisabled(model, async () => 1)).toThrow(/synchronous/);
  });
});
