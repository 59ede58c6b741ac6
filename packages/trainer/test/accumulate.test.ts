// Gradient accumulation: 2 micro-batches of 2 windows give the loss and gradients of 1 batch of 4.
import { init, manualSeed } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { accumulateGradients, TokenDataset, Trainer, WindowSampler } from '../src/index.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
const data = new TokenDataset(tokens, { contextLength: 8 });

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

function model(): TinyLM {
  manualSeed(11);
  return new TinyLM(vocabSize);
}

async function grads(m: TinyLM): Promise<number[][]> {
  return Promise.all(m.parameters().map(async (p) => Array.from(await p.grad!.data())));
}

describe('gradient accumulation', () => {
  it('matches the unaccumulated batch: same loss, same gradients', async () => {
    const whole = model();
    const split = model();
    const samplerA = new WindowSampler(5);
    const samplerB = new WindowSampler(5);
    const lossWhole = accumulateGradients(whole, 1, () => data.sampleTrainBatch(4, samplerA));
    const lossSplit = accumulateGradients(split, 2, () => data.sampleTrainBatch(2, samplerB));
    expect(await lossSplit.item()).toBeCloseTo(await lossWhole.item(), 6);
    const [a, b] = [await grads(whole), await grads(split)];
    for (let i = 0; i < a.length; i++)
      for (let j = 0; j < a[i].length; j++) expect(b[i][j]).toBeCloseTo(a[i][j], 6);
    expect(samplerB.state()).toEqual(samplerA.state()); // the same windows were drawn
  });

  it('trains to the same losses through the Trainer (batch 4 vs 2 × 2 micro-batches)', async () => {
    const run = async (batchSize: number, gradAccum: number) => {
      const losses: number[] = [];
      const trainer = new Trainer({
        model: model(),
        data,
        progress: false,
        config: {
          steps: 4,
          batchSize,
          gradAccum,
          logInterval: 1,
          evalInterval: 100,
          evalWindows: 2,
          schedule: { kind: 'constant', lr: 0.05 },
        },
        callbacks: { onLog: (info) => void losses.push(info.loss) },
      });
      expect(trainer.tokensPerStep).toBe(32);
      await trainer.train();
      return losses;
    };
    const whole = await run(4, 1);
    const split = await run(2, 2);
    expect(whole).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(split[i]).toBeCloseTo(whole[i], 5);
  });
});
