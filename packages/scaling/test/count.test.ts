// Counting parameters and FLOPs from a config, checked against the model itself and against
// published parameter counts.
import { init } from '@kiln/tensor';
import { GeluMLP, GPT, type GPTConfig, registerFeedForward } from '@kiln/transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { countGPT, countModel, inferenceFlops, modelReport, trainingFlops } from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const CONFIGS: Record<string, GPTConfig> = {
  'gpt2 tied': { family: 'gpt2', vocabSize: 256, contextLength: 64, nLayers: 2, nHeads: 4, dModel: 64 },
  'gpt2 untied, no bias': {
    family: 'gpt2',
    vocabSize: 300,
    contextLength: 32,
    nLayers: 3,
    nHeads: 2,
    dModel: 48,
    tieEmbeddings: false,
    bias: false,
  },
  'gpt2 with dFF and qkNorm': {
    family: 'gpt2',
    vocabSize: 128,
    contextLength: 16,
    nLayers: 1,
    nHeads: 4,
    dModel: 32,
    dFF: 80,
    qkNorm: true,
  },
  'llama GQA untied': {
    family: 'llama',
    vocabSize: 256,
    contextLength: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    dModel: 64,
  },
  'llama tied with bias': {
    family: 'llama',
    vocabSize: 200,
    contextLength: 32,
    nLayers: 2,
    nHeads: 2,
    dModel: 32,
    tieEmbeddings: true,
    bias: true,
  },
  'per-block feed-forward specs': {
    family: 'gpt2',
    vocabSize: 100,
    contextLength: 16,
    nLayers: 2,
    nHeads: 2,
    dModel: 32,
    feedForward: [{ kind: 'gelu', dFF: 64 }, { kind: 'swiglu' }],
  },
};

describe('countGPT', () => {
  for (const [name, config] of Object.entries(CONFIGS)) {
    it(`equals the built model's numParameters() and flopsPerToken(): ${name}`, () => {
      const model = new GPT(config);
      try {
        const counts = countGPT(config);
        expect(counts.totalParams).toBe(model.numParameters());
        expect(counts.flopsPerToken).toBe(model.flopsPerToken());
        expect(countGPT(config, 7).flopsPerToken).toBe(model.flopsPerToken(7));
        expect(counts.activeParams).toBe(counts.totalParams);
        expect(counts.embeddingParams + counts.nonEmbeddingParams).toBe(counts.totalParams);
        expect(modelReport(model)).toEqual({
          totalParams: counts.totalParams,
          activeParams: counts.totalParams,
          flopsPerToken: counts.flopsPerToken,
        });
      } finally {
        model.dispose();
      }
    });
  }

  it('matches published parameter counts (GPT-2 small, Llama 2 7B/13B/70B)', () => {
    // GPT-2 small: 124,439,808 (Hugging Face's gpt2 checkpoint).
    expect(
      countGPT({
        family: 'gpt2',
        vocabSize: 50257,
        contextLength: 1024,
        nLayers: 12,
        nHeads: 12,
        dModel: 768,
      }).totalParams,
    ).toBe(124_439_808);
    // Llama 2 (Hugging Face meta-llama/Llama-2-*-hf): 6,738,415,616 / 13,015,864,320 / 68,976,648,192.
    const llama = (
      nLayers: number,
      dModel: number,
      nHeads: number,
      dFF: number,
      nKvHeads = nHeads,
    ): GPTConfig => ({
      family: 'llama',
      vocabSize: 32000,
      contextLength: 4096,
      nLayers,
      nHeads,
      nKvHeads,
      dModel,
      dFF,
    });
    expect(countGPT(llama(32, 4096, 32, 11008)).totalParams).toBe(6_738_415_616);
    expect(countGPT(llama(40, 5120, 40, 13824)).totalParams).toBe(13_015_864_320);
    expect(countGPT(llama(80, 8192, 64, 28672, 8)).totalParams).toBe(68_976_648_192);
  });

  it('splits embedding from non-embedding parameters and counts the attention term', () => {
    const c = countGPT(CONFIGS['gpt2 untied, no bias']);
    // token table + position table + untied head
    expect(c.embeddingParams).toBe(300 * 48 + 32 * 48 + 300 * 48);
    expect(c.attentionFlopsPerToken).toBe(12 * 3 * 48 * 32);
    // matmul parameters leave out the position table and the (untied) token lookup
    expect(c.matmulParams).toBe(c.totalParams - 32 * 48 - 300 * 48);
    expect(c.inferenceFlopsPerToken * 3).toBe(c.flopsPerToken);
  });

  it('refuses feed-forward kinds it cannot count, and the built model reports itself instead', () => {
    // A kind registered by another package (as @kiln/moe will): the config alone does not say its size.
    registerFeedForward('scaling-test-mlp', {
      create: (_spec, d) => new GeluMLP(d.dModel, 2 * d.dModel, { bias: d.bias }),
    });
    const config: GPTConfig = { ...CONFIGS['gpt2 tied'], feedForward: { kind: 'scaling-test-mlp' } };
    expect(() => countGPT(config)).toThrow(/cannot be counted from a config.*modelReport/);
    const model = new GPT(config);
    try {
      expect(countModel(model).totalParams).toBe(model.numParameters());
      expect(countModel(model).flopsPerToken).toBe(model.flopsPerToken());
    } finally {
      model.dispose();
    }
  });
});

describe('countModel', () => {
  it("takes a model's own report, so a mixture of experts plugs in", () => {
    const moe = { totalParams: 46.7e9, activeParams: 12.9e9, flopsPerToken: 6 * 12.9e9 };
    expect(countModel(moe)).toBe(moe);
    expect(trainingFlops(moe, 1e12)).toBe(6 * 12.9e9 * 1e12);
    expect(inferenceFlops(moe, 10)).toBeCloseTo(2 * 12.9e9 * 10, -3);
  });

  it('takes a bare parameter count as a dense model at 6N FLOPs per token', () => {
    expect(countModel(7e9)).toEqual({ totalParams: 7e9, activeParams: 7e9, flopsPerToken: 42e9 });
  });

  it('rejects bad reports and counts with the field named', () => {
    expect(() => countModel({ totalParams: 10, activeParams: 20, flopsPerToken: 60 })).toThrow(
      /activeParams.*cannot exceed/,
    );
    expect(() => countModel({ totalParams: -1, activeParams: 1, flopsPerToken: 6 })).toThrow(/totalParams/);
    expect(() => countModel(0)).toThrow(/positive/);
    expect(() => trainingFlops(1e6, Number.NaN)).toThrow(/tokens/);
  });
});
