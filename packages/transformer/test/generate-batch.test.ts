/**
 * Batched generation: greedy `generateBatch` over prompts of different lengths equals greedy
 * `generate` on each prompt alone (cpu and webgpu, both families, through the window sliding),
 * stop tokens end one row only, seeds reproduce, and bad arguments are errors naming them.
 */
import { noGrad } from '@kiln/autograd';
import { type Backend, getRngState, manualSeed, memory } from '@kiln/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import { GPT, type GPTConfig, generate, generateBatch } from '../src/index.js';
import { initCpu, randomTokens, tryWebgpu } from './helpers.js';

await initCpu();
const webgpu = await tryWebgpu();

const small = (family: 'gpt2' | 'llama'): GPTConfig => ({
  family,
  vocabSize: 32,
  contextLength: 12,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: family === 'llama' ? 2 : 4,
  dModel: 16,
});

const models: GPT[] = [];
afterAll(() => {
  for (const m of models) m.dispose();
});
/** A seeded model with larger weights than the init, so greedy decoding is not a constant token. */
function model(family: 'gpt2' | 'llama', seed: number, backend?: Backend): GPT {
  manualSeed(seed);
  const m = new GPT(small(family), { backend });
  noGrad(() => {
    for (const [name, p] of m.namedParameters())
      if (name.endsWith('weight') && p.ndim === 2) p.assign(p.mul(5));
  });
  models.push(m);
  return m;
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const id of it) out.push(id);
  return out;
}

// 1, 3 and 7 tokens (padding of 6 and 4 in the first prefill), and one longer than the window
const prompts = [[5], randomTokens(3, 32, 1), randomTokens(7, 32, 2), randomTokens(15, 32, 3)];

async function expectBatchEqualsAlone(m: GPT): Promise<void> {
  const live = memory().liveTensors;
  // 9 new tokens: the 7-token prompt fills the 12-token window and slides
  const batch = await generateBatch(m, prompts, { maxTokens: 9, temperature: 0 });
  const alone = await Promise.all(
    prompts.map((p) => collect(generate(m, p, { maxTokens: 9, temperature: 0 }))),
  );
  expect(batch).toEqual(alone);
  expect(batch.map((row) => row.length)).toEqual([9, 9, 9, 9]);
  expect(new Set(batch.flat()).size).toBeGreaterThan(3);
  expect(memory().liveTensors).toBe(live);
}

describe.each(['gpt2', 'llama'] as const)('%s generateBatch', (family) => {
  test('greedy over prompts of different lengths equals greedy generate on each prompt alone', async () => {
    await expectBatchEqualsAlone(model(family, 1));
  });

  test.skipIf(!webgpu)('the same on webgpu', async () => {
    await expectBatchEqualsAlone(model(family, 1, webgpu!));
  });

  test('a stop token ends its row only; the others go on as alone', async () => {
    const m = model(family, 2);
    const alone = await Promise.all(
      prompts.map((p) => collect(generate(m, p, { maxTokens: 8, temperature: 0 }))),
    );
    // stop on a token that the second row generates at step 2, but not before
    const stop = alone[1][2];
    const expected = alone.map((row) => (row.includes(stop) ? row.slice(0, row.indexOf(stop)) : row));
    const batch = await generateBatch(m, prompts, { maxTokens: 8, temperature: 0, stopTokens: [stop] });
    expect(batch).toEqual(expected);
    expect(batch[1].length).toBeLessThanOrEqual(2);
  });
});

test('seeded sampling is reproducible, differs by seed and leaves the global generator alone', async () => {
  const m = model('llama', 3);
  manualSeed(42);
  const before = getRngState();
  const a = await generateBatch(m, prompts, { maxTokens: 10, seed: 7, topK: 20 });
  expect(getRngState()).toEqual(before);
  expect(await generateBatch(m, prompts, { maxTokens: 10, seed: 7, topK: 20 })).toEqual(a);
  expect(await generateBatch(m, prompts, { maxTokens: 10, seed: 8, topK: 20 })).not.toEqual(a);
  // without a seed, manualSeed makes it reproducible
  manualSeed(3);
  const b = await generateBatch(m, prompts, { maxTokens: 6, topP: 0.9 });
  manualSeed(3);
  expect(await generateBatch(m, prompts, { maxTokens: 6, topP: 0.9 })).toEqual(b);
});

test('keeps the training mode; no prompts or maxTokens 0 give empty results', async () => {
  const m = model('gpt2', 4);
  m.train();
  await generateBatch(m, [[1], [2, 3]], { maxTokens: 3, seed: 1 });
  expect(m.training).toBe(true);
  expect(m.blocks[0].attn.training).toBe(true);
  expect(await generateBatch(m, [], { maxTokens: 3 })).toEqual([]);
  expect(await generateBatch(m, [[1], [2]], { maxTokens: 0 })).toEqual([[], []]);
});

test('bad arguments are errors that name them', () => {
  const m = model('gpt2', 5);
  const run =
    (p: unknown, options: object = {}) =>
    () =>
      generateBatch(m, p as number[][], options);
  expect(run([1, 2])).toThrow(/generateBatch: prompts\[0\] must be an array of token ids/);
  expect(run('abc')).toThrow(/prompts must be an array of prompts/);
  expect(run([[1], []])).toThrow(/prompts\[1\] is empty/);
  expect(run([[1], [2, 32]])).toThrow(/prompts\[1\]\[1\] = 32 is not a token id in \[0, 32\)/);
  expect(run([[1]], { maxTokens: -1 })).toThrow(/generateBatch: maxTokens must be a non-negative integer/);
  expect(run([[1]], { stopTokens: [40] })).toThrow(/stopTokens\[0\] = 40/);
  expect(run([[1]], { temperature: Number.NaN })).toThrow(/temperature/);
  expect(run([[1]], { topK: 0 })).toThrow(/topK must be an integer in \[1, 32\]/);
  expect(run([[1]], { seed: 1.5 })).toThrow(/generateBatch: seed must be a non-negative integer/);
});
