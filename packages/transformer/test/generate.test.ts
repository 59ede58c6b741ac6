/** Generation: KV cache vs full recompute, sliding window, seeds, top-k/top-p support, stop tokens, validation. */
import { noGrad } from '@kiln/autograd';
import { type Backend, getRngState, manualSeed, memory, scope, tensor } from '@kiln/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import { GPT, type GPTConfig, sampleToken } from '../src/index.js';
import { initCpu, tryWebgpu } from './helpers.js';

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

/** Larger weights than the init, so that greedy decoding is not a constant token. */
function sharpen(model: GPT): GPT {
  noGrad(() => {
    for (const [name, p] of model.namedParameters())
      if (name.endsWith('weight') && p.ndim === 2) p.assign(p.mul(5));
  });
  return model;
}

/** Greedy decoding by running the whole window (last contextLength tokens) every step. */
async function greedyByRecompute(model: GPT, prompt: number[], n: number): Promise<number[]> {
  const tokens = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const window = tokens.slice(-model.config.contextLength);
    const next = await scope(async () => {
      const { logits } = noGrad(() =>
        model.forward(tensor([window], { dtype: 'int32', backend: model.backend })),
      );
      return logits
        .slice(1, window.length - 1, window.length)
        .reshape([model.config.vocabSize])
        .argmax()
        .item();
    });
    out.push(next);
    tokens.push(next);
  }
  return out;
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const id of it) out.push(id);
  return out;
}

/** KV-cache greedy decoding equals full-recompute greedy, including a prompt longer than the window and the window sliding. */
async function expectCacheMatchesRecompute(m: GPT): Promise<void> {
  const prompt = [3, 1, 4, 1, 5];
  // 5 + 15 tokens: the 12-token window fills at step 7 and then slides
  const cached = await collect(m.generate(prompt, { maxTokens: 15, temperature: 0 }));
  expect(cached).toEqual(await greedyByRecompute(m, prompt, 15));
  expect(new Set(cached).size).toBeGreaterThan(1);
  // a prompt longer than the window keeps its last contextLength tokens
  const long = Array.from({ length: 20 }, (_, i) => (i * 7) % 32);
  expect(await collect(m.generate(long, { maxTokens: 4, temperature: 0 }))).toEqual(
    await greedyByRecompute(m, long, 4),
  );
}

const models: GPT[] = [];
afterAll(() => {
  for (const m of models) m.dispose();
});
function model(family: 'gpt2' | 'llama', seed = 0, backend?: Backend): GPT {
  manualSeed(seed);
  const m = sharpen(new GPT(small(family), { backend }));
  models.push(m);
  return m;
}

describe.each(['gpt2', 'llama'] as const)('%s generation', (family) => {
  test('greedy with the KV cache equals greedy by full recompute, past the context window', async () => {
    const m = model(family, 1);
    await expectCacheMatchesRecompute(m);
  });

  test.skipIf(!webgpu)('the same on webgpu', async () => {
    await expectCacheMatchesRecompute(model(family, 1, webgpu!));
  });

  test('seeded sampling is reproducible and leaves the global generator alone', async () => {
    const m = model(family, 2);
    manualSeed(99);
    const before = getRngState();
    const a = await collect(m.generate([1, 2], { maxTokens: 12, seed: 5 }));
    expect(getRngState()).toEqual(before);
    const b = await collect(m.generate([1, 2], { maxTokens: 12, seed: 5 }));
    const c = await collect(m.generate([1, 2], { maxTokens: 12, seed: 6 }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // without a seed, manualSeed makes it reproducible
    manualSeed(3);
    const d = await collect(m.generate([1, 2], { maxTokens: 12 }));
    manualSeed(3);
    expect(await collect(m.generate([1, 2], { maxTokens: 12 }))).toEqual(d);
  });
});

describe('sampling', () => {
  test('top-k = 1 and temperature 0 are greedy', async () => {
    const m = model('llama', 3);
    const greedy = await collect(m.generate([7], { maxTokens: 6, temperature: 0 }));
    expect(await collect(m.generate([7], { maxTokens: 6, topK: 1, seed: 1 }))).toEqual(greedy);
  });

  test('top-k restricts the support to the k most likely tokens', async () => {
    const logits = tensor([0.1, 3, -1, 2.5, 0, 2.9, 1]);
    manualSeed(11);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++)
      seen.add(await scope(() => sampleToken(logits, { topK: 3, temperature: 2 }).item()));
    expect([...seen].sort()).toEqual([1, 3, 5]);
  });

  test('top-p keeps the smallest most-likely set whose mass reaches p', async () => {
    // probabilities 0.5, 0.3, 0.15, 0.05 (shuffled): p = 0.7 needs the top two, p = 0.85 the top three
    const logits = tensor([Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)]);
    manualSeed(12);
    const support = async (topP: number) => {
      const seen = new Set<number>();
      for (let i = 0; i < 300; i++) seen.add(await scope(() => sampleToken(logits, { topP }).item()));
      return [...seen].sort();
    };
    expect(await support(0.7)).toEqual([1, 3]);
    expect(await support(0.85)).toEqual([0, 1, 3]);
    expect(await support(0.1)).toEqual([1]);
    // counts follow the renormalised probabilities: 0.5 / 0.8 ≈ 0.62 for token 1 at p = 0.7
    let ones = 0;
    for (let i = 0; i < 1000; i++)
      if ((await scope(() => sampleToken(logits, { topP: 0.7 }).item())) === 1) ones++;
    expect(ones / 1000).toBeGreaterThan(0.57);
    expect(ones / 1000).toBeLessThan(0.68);
  });

  test('stop tokens end generation (not yielded); maxTokens bounds it', async () => {
    const m = model('gpt2', 4);
    const greedy = await collect(m.generate([2, 3], { maxTokens: 8, temperature: 0 }));
    const stopAt = greedy.findIndex((t, i) => i > 0 && t !== greedy[0]);
    const stopped = await collect(
      m.generate([2, 3], { maxTokens: 8, temperature: 0, stopTokens: [greedy[stopAt]] }),
    );
    expect(stopped).toEqual(greedy.slice(0, greedy.indexOf(greedy[stopAt])));
    expect(await collect(m.generate([2, 3], { maxTokens: 0 }))).toEqual([]);
    expect((await collect(m.generate([2, 3], { maxTokens: 3, seed: 0 }))).length).toBe(3);
  });

  test('generation keeps the training mode and frees its tensors, also when the loop breaks early', async () => {
    const m = model('llama', 5);
    const live = memory().liveTensors;
    m.train();
    for await (const _ of m.generate([1], { maxTokens: 50, seed: 1 })) break;
    await collect(m.generate([1], { maxTokens: 20, seed: 1 }));
    expect(m.training).toBe(true);
    expect(m.blocks[0].attn.training).toBe(true);
    expect(memory().liveTensors).toBe(live);
  });

  test('bad options are errors that name the option', async () => {
    const m = model('gpt2', 6);
    const run = (prompt: number[], options: object) => () => m.generate(prompt, options);
    expect(run([], {})).toThrow(/prompt is empty/);
    expect(run([32], {})).toThrow(/prompt\[0\] = 32 is not a token id in \[0, 32\)/);
    expect(run([1], { topK: 0 })).toThrow(/topK must be an integer in \[1, 32\]/);
    expect(run([1], { topK: 33 })).toThrow(/topK/);
    expect(run([1], { topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
    expect(run([1], { temperature: -1 })).toThrow(/temperature must be a finite number ≥ 0/);
    expect(run([1], { maxTokens: 1.5 })).toThrow(/maxTokens must be a non-negative integer/);
    expect(run([1], { stopTokens: [-1] })).toThrow(/stopTokens\[0\] = -1/);
    expect(run([1], { seed: -2 })).toThrow(/seed must be a non-negative integer/);
  });
});
