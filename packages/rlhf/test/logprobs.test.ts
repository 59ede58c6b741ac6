// sequenceLogprobs: the completion tokens' log-probabilities equal a host log-softmax over the
// model's logits of the unpadded row (right padding changes nothing), and 0 elsewhere.
import { init, manualSeed, tensor } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { beforeAll, expect, it } from 'vitest';
import { sequenceLogprobs } from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

it('gives log p of the completion tokens only, unchanged by right padding', async () => {
  manualSeed(5);
  const V = 11;
  const model = new GPT({
    family: 'llama',
    vocabSize: V,
    contextLength: 8,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    dModel: 16,
  });
  const row = [3, 1, 4, 1, 5];
  const logits = Array.from(await model.forward(tensor([row], { dtype: 'int32' })).logits.data());
  const want = row.map((id, t) => {
    if (t < 2) return 0; // prompt: 3 1
    const z = logits.slice((t - 1) * V, t * V);
    const m = Math.max(...z);
    return z[id] - m - Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
  });
  const ids = tensor(
    [
      [...row, 0, 0],
      [2, 2, 2, 2, 2, 2, 2],
    ],
    { dtype: 'int32' },
  );
  const mask = tensor([
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 1, 1, 1, 1],
  ]);
  const padding = tensor(
    [
      [0, 0, 0, 0, 0, 1, 1],
      [0, 0, 0, 0, 0, 0, 0],
    ],
    { dtype: 'bool' },
  );
  const got = Array.from(await sequenceLogprobs(model, ids, mask, { padding }).data());
  want.forEach((w, t) => {
    expect(got[t]).toBeCloseTo(w, 5);
  });
  expect(got.slice(5, 7).map(Math.abs)).toEqual([0, 0]);
  expect(got.slice(7, 10).map(Math.abs)).toEqual([0, 0, 0]);
  expect(got[10]).toBeLessThan(0);
  expect(() => sequenceLogprobs(model, ids, tensor([[1]]))).toThrow(/mask has shape \[1,1\] but ids \[2,7\]/);
});
