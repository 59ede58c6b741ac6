// The defaults docs/reliability.md documents ("Defaults a run relies on"), pinned: if one of
// these changes, the doc must change with it.
import { init } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, TokenDataset, TRAIN_DEFAULTS, Trainer } from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});

describe('documented trainer defaults', () => {
  it('AdamW in the Trainer: betas (0.9, 0.95), eps 1e-8, weight decay 0.1, clip 1.0', () => {
    expect(TRAIN_DEFAULTS).toMatchObject({
      optimizer: 'adamw',
      betas: [0.9, 0.95],
      eps: 1e-8,
      weightDecay: 0.1,
      gradClip: 1,
      decayEmbeddings: false,
    });
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 16,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
    });
    const data = new TokenDataset(
      new Uint16Array(200).map((_, i) => i % 16),
      { contextLength: 8 },
    );
    const t = new Trainer({ model, data, progress: false });
    expect(t.optimizer.hyperparameters()).toMatchObject({ betas: [0.9, 0.95], eps: 1e-8 });
  });

  it('a bare new AdamW(...) has PyTorch defaults instead: betas (0.9, 0.999), weight decay 0.01', () => {
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 16,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
    });
    const opt = new AdamW(model.parameters());
    expect(opt.hyperparameters()).toMatchObject({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  });

  it('defaultParamGroups decays matrices only: not embeddings (nor the tied head), biases or norm gains', () => {
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 16,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
    });
    const data = new TokenDataset(
      new Uint16Array(200).map((_, i) => i % 16),
      { contextLength: 8 },
    );
    const t = new Trainer({ model, data, progress: false });
    const groups = (t.optimizer as AdamW).groups.map((g) => ({
      decay: g.weightDecay,
      names: g.params.map(([n]) => n),
    }));
    const decayed = groups.find((g) => g.decay === 0.1)!.names;
    const notDecayed = groups.find((g) => g.decay === 0)!.names;
    expect(decayed.sort()).toEqual(
      [
        'blocks.0.attn.o.weight',
        'blocks.0.attn.qkv.weight',
        'blocks.0.mlp.fc.weight',
        'blocks.0.mlp.proj.weight',
      ].sort(),
    );
    expect(notDecayed).toContain('tokenEmbedding.weight'); // = the tied head
    expect(notDecayed).toContain('positionEmbedding.weight');
    expect(notDecayed).not.toContain('head.weight');
  });
});
