/** GPTConfig: defaults, presets, validation messages, parameter and FLOP counts. */
import { describe, expect, test } from 'vitest';
import { ConfigError, GPT, GPT_PRESETS, type GPTConfig, resolveConfig } from '../src/index.js';
import { initCpu } from './helpers.js';

await initCpu();

describe('resolveConfig', () => {
  test('fills the family defaults', () => {
    expect(
      resolveConfig({ family: 'gpt2', vocabSize: 100, contextLength: 32, nLayers: 2, nHeads: 4, dModel: 64 }),
    ).toEqual({
      family: 'gpt2',
      vocabSize: 100,
      contextLength: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 4,
      dModel: 64,
      dFF: 256,
      dropout: 0,
      ropeTheta: 10000,
      qkNorm: false,
      normEps: 1e-5,
      tieEmbeddings: true,
      bias: true,
    });
    const llama = resolveConfig({
      family: 'llama',
      vocabSize: 100,
      contextLength: 32,
      nLayers: 2,
      nHeads: 4,
      dModel: 64,
    });
    expect(llama).toMatchObject({
      nKvHeads: 4,
      dFF: 192,
      tieEmbeddings: false,
      bias: false,
      ropeTheta: 10000,
    });
  });

  test('every preset is valid and builds the published shapes', () => {
    for (const name of Object.keys(GPT_PRESETS) as (keyof typeof GPT_PRESETS)[]) {
      expect(() => resolveConfig(GPT.config(name))).not.toThrow();
    }
    expect(GPT.config('gpt2')).toMatchObject({ vocabSize: 50257, nLayers: 12, dModel: 768 });
    // a copy: changing it does not change the preset
    const c = GPT.config('gpt2-tiny');
    c.vocabSize = 7;
    expect(GPT.config('gpt2-tiny').vocabSize).toBe(256);
  });

  const base: GPTConfig = {
    family: 'gpt2',
    vocabSize: 64,
    contextLength: 16,
    nLayers: 1,
    nHeads: 4,
    dModel: 32,
  };
  test.each([
    [{ dModel: 30 }, /dModel \(30\) must be divisible by nHeads \(4\).*nHeads: 3 or dModel: 32/],
    [{ nKvHeads: 3 }, /nHeads \(4\) must be divisible by nKvHeads \(3\).*nKvHeads: 2/],
    [{ nKvHeads: 8 }, /nHeads \(4\) must be divisible by nKvHeads \(8\)/],
    [
      { family: 'llama', nHeads: 32, dModel: 32 } as Partial<GPTConfig>,
      /head dimension dModel \/ nHeads must be even/,
    ],
    [{ family: 'bert' } as unknown as Partial<GPTConfig>, /family must be 'gpt2' or 'llama'/],
    [{ vocabSize: 0 }, /vocabSize must be a positive integer, got 0/],
    [{ nLayers: 1.5 }, /nLayers must be a positive integer/],
    [{ dropout: 1 }, /dropout must be a number in \[0, 1\)/],
    [{ normEps: 0 }, /normEps must be a small positive number/],
    [{ ropeTheta: -1 }, /ropeTheta must be a positive number/],
    [{ bias: 'yes' } as unknown as Partial<GPTConfig>, /bias must be true or false/],
    [
      { nLayer: 2 } as unknown as Partial<GPTConfig>,
      /unknown key\(s\) nLayer; known keys: family, vocabSize/,
    ],
  ])('rejects %o with a message naming the field', (change, message) => {
    expect(() => resolveConfig({ ...base, ...change })).toThrow(ConfigError);
    expect(() => resolveConfig({ ...base, ...change })).toThrow(message);
    expect(() => new GPT({ ...base, ...change })).toThrow(message);
  });
});

describe('parameter and FLOP counts', () => {
  test('numParameters matches a hand count (gpt2: tied head, biases, learned positions)', () => {
    const model = new GPT(GPT.config('gpt2-tiny')); // V 256, C 64, L 2, d 64, dFF 256
    const [V, C, L, d, F] = [256, 64, 2, 64, 256];
    const block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * F + F) + (F * d + d);
    expect(model.numParameters()).toBe(V * d + C * d + L * block + 2 * d);
    expect(model.numParameters()).toBe(120576);
    // the head is the embedding: listed once
    expect(model.head.weight).toBe(model.tokenEmbedding.weight);
    expect(model.namedParameters().map(([n]) => n)).not.toContain('head.weight');
    // 6·N (N without the position table) + 12·L·d·T
    expect(model.flopsPerToken(64)).toBe(6 * (120576 - C * d) + 12 * L * d * 64);
    expect(model.flopsPerToken()).toBe(model.flopsPerToken(64));
    model.dispose();
  });

  test('numParameters matches a hand count (llama: GQA, SwiGLU, untied head, no biases)', () => {
    const model = new GPT(GPT.config('llama-tiny')); // V 256, L 2, d 64, H 4, Hkv 2, dFF 192
    const [V, L, d, hd, H, Hkv, F] = [256, 2, 64, 16, 4, 2, 192];
    const block = d + (H + 2 * Hkv) * hd * d + H * hd * d + d + 3 * d * F;
    expect(model.numParameters()).toBe(2 * V * d + L * block + d);
    expect(model.numParameters()).toBe(131392);
    expect(model.flopsPerToken(10)).toBe(6 * (131392 - V * d) + 12 * L * d * 10);
    model.dispose();
  });

  test('GPT-2 small has the published 124M parameters', () => {
    const c = resolveConfig(GPT.config('gpt2'));
    const d = c.dModel;
    const block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d);
    expect(c.vocabSize * d + c.contextLength * d + c.nLayers * block + 2 * d).toBe(124439808);
  });
});
