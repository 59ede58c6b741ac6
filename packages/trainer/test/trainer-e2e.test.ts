// End to end on real text: a tiny GPT trained on the first 2000 characters of Moby Dick (bytes as tokens) must
// learn, i.e. its validation loss must end well below the unigram baseline, which is the best a
// model can do without using context.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetrics, TokenDataset, Trainer, unigramEntropy } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-e2e-'));

beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('pretraining a tiny GPT on Moby Dick', () => {
  it('learns: validation loss ends well below the unigram baseline', async () => {
    const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
    const contextLength = 16;
    const data = new TokenDataset(tokens, { contextLength });
    const baseline = unigramEntropy(tokens.subarray(0, data.trainTokens));
    manualSeed(0);
    // An untied head learns byte statistics much faster than one tied to the embedding.
    const model = new GPT({
      family: 'gpt2',
      vocabSize,
      contextLength,
      nLayers: 1,
      nHeads: 2,
      dModel: 32,
      tieEmbeddings: false,
    });
    const outDir = join(root, 'run');
    const trainer = new Trainer({
      model,
      data,
      outDir,
      progress: false,
      bytesPerToken: 1,
      config: {
        steps: 120,
        batchSize: 8,
        evalInterval: 60,
        evalWindows: 16,
        logInterval: 10,
        schedule: { kind: 'cosine', maxLr: 1e-2, minLr: 1e-3, warmupSteps: 10 },
      },
    });
    const { validation } = await trainer.train();
    console.log(`unigram ${baseline.toFixed(3)} nats, validation ${validation!.loss.toFixed(3)} nats`);
    expect(validation!.loss).toBeLessThan(baseline - 0.3);
    expect(validation!.bitsPerByte).toBeCloseTo(validation!.loss / Math.LN2, 10);
    expect(validation!.perplexity).toBeCloseTo(Math.exp(validation!.loss), 10);
    const metrics = await readMetrics(join(outDir, 'metrics.jsonl'));
    const valLosses = metrics.filter((r) => typeof r.valLoss === 'number').map((r) => r.valLoss as number);
    expect(valLosses[0]).toBeGreaterThan(baseline); // an untrained model is worse than unigram
    expect(existsSync(join(outDir, 'loss.svg'))).toBe(true);
  });
});
