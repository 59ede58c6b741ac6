/**
 * `generate` over a model that is not a GPT: a bigram table implementing `CausalLM`. Its greedy
 * tokens follow the table by hand; the calls it receives show the prefill, the one-token steps
 * and the window sliding; it runs without gradients and in eval mode, restoring the mode after.
 */
import { isGradEnabled, Module, Parameter } from '@kiln/autograd';
import { type Backend, embedding, memory, scope, type Tensor, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import { type CausalLM, Dropout, type GenerationCache, generate } from '../src/index.js';
import { initCpu } from './helpers.js';

await initCpu();

/** The number of positions seen; a bigram needs nothing else. */
class BigramCache implements GenerationCache {
  length = 0;
  disposed = false;
  reset(): void {
    this.length = 0;
  }
  dispose(): void {
    this.disposed = true;
  }
}

/** Next-token logits are the row of the last token in a `[V, V]` table. */
class Bigram extends Module implements CausalLM<BigramCache> {
  table: Parameter;
  /** A submodule, to see that generate switches every module to eval mode. */
  dropout = new Dropout(0.5);
  readonly config: { vocabSize: number; contextLength: number };
  /** `[T, position, training, grad enabled]` of each forwardCached call. */
  readonly calls: [number, number, boolean, boolean][] = [];
  readonly caches: BigramCache[] = [];

  /** `next(i)` gets logit 5, every other token 0. */
  constructor(vocabSize: number, contextLength: number, next: (token: number) => number) {
    super();
    this.config = { vocabSize, contextLength };
    const rows = Array.from({ length: vocabSize }, (_, i) =>
      Array.from({ length: vocabSize }, (_, j) => (j === next(i) ? 5 : 0)),
    );
    this.table = new Parameter(tensor(rows));
  }

  get backend(): Backend {
    return this.table.backend;
  }

  createCache(): BigramCache {
    const cache = new BigramCache();
    this.caches.push(cache);
    return cache;
  }

  forwardCached(ids: Tensor, cache: BigramCache): Tensor {
    const T = ids.shape[1];
    this.calls.push([T, cache.length, this.dropout.training, isGradEnabled()]);
    cache.length += T;
    return scope(() => embedding(ids.slice(1, T - 1, T).reshape([ids.shape[0]]), this.table));
  }
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const id of it) out.push(id);
  return out;
}

describe('generate over a CausalLM that is not a GPT', () => {
  test('greedy tokens follow the bigram table; prefill, steps and the sliding window', async () => {
    const model = new Bigram(7, 4, (i) => (3 * i + 1) % 7);
    const live = memory().liveTensors;
    // 2 → 0 → 1 → 4 → 6 → 5 → 2
    expect(await collect(generate(model, [2], { maxTokens: 6, temperature: 0 }))).toEqual([0, 1, 4, 6, 5, 2]);
    // prefill of the prompt, three single tokens until the 4-position window is full, then each
    // new token re-runs the last 4 tokens; always in eval mode without gradients
    expect(model.calls).toEqual([
      [1, 0, false, false],
      [1, 1, false, false],
      [1, 2, false, false],
      [1, 3, false, false],
      [4, 0, false, false],
      [4, 0, false, false],
    ]);
    expect(model.training).toBe(true);
    expect(model.dropout.training).toBe(true);
    expect(model.caches.map((c) => c.disposed)).toEqual([true]);
    expect(memory().liveTensors).toBe(live);
  });

  test('stop tokens, a prompt longer than the window, and argument checks against its vocabulary', async () => {
    const model = new Bigram(5, 3, (i) => (i + 1) % 5);
    expect(await collect(generate(model, [0, 1, 2, 3, 4, 0], { maxTokens: 3, temperature: 0 }))).toEqual([
      1, 2, 3,
    ]);
    expect(model.calls[0]).toEqual([3, 0, false, false]); // the last contextLength tokens
    expect(await collect(generate(model, [1], { maxTokens: 10, temperature: 0, stopTokens: [4] }))).toEqual([
      2, 3,
    ]);
    expect(() => generate(model, [5], {})).toThrow(/prompt\[0\] = 5 is not a token id in \[0, 5\)/);
  });
});

test('generate.ts depends on the CausalLM interface only, not on gpt.ts (no import cycle)', async () => {
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(new URL('../src/generate.ts', import.meta.url), 'utf8');
  expect(source).not.toMatch(/from '\.\/gpt\.js'/);
  expect(source).toMatch(/from '\.\/causal-lm\.js'/);
});
