// TokenDataset as a BatchSource: next() draws what a Trainer with the same batch size and seed
// draws, state()/restore() continue the stream exactly, and bad states are explained. Also the
// trainer-state format: version 1 files (a sampler) still read as the source's state.
import { init } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  parseTrainerState,
  TokenDataset,
  TRAIN_DEFAULTS,
  Trainer,
  tokenBatchInput,
  uploadBatch,
  WindowSampler,
} from '../src/index.js';
import { TinyLM } from './helpers/tiny-lm.js';

const arange = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('TokenDataset as a BatchSource', () => {
  it('draws batchSize windows from its own seeded sampler, as { ids, targets } int32 [B, T]', () => {
    const data = new TokenDataset(arange(1000), { contextLength: 8, batchSize: 3, seed: 42 });
    const sampler = new WindowSampler(42);
    for (let i = 0; i < 4; i++) {
      const batch = data.next();
      const want = data.sampleTrainBatch(3, sampler);
      expect(batch.ids).toEqual({ data: want.inputs, shape: [3, 8], dtype: 'int32' });
      expect(batch.targets).toEqual({ data: want.targets, shape: [3, 8], dtype: 'int32' });
    }
    expect(data.state()).toEqual({ seed: 42, counter: 12 });
    const defaults = new TokenDataset(arange(1000), { contextLength: 8 });
    expect([defaults.batchSize, defaults.sampler.state().seed]).toEqual([
      TRAIN_DEFAULTS.batchSize,
      TRAIN_DEFAULTS.seed,
    ]);
  });

  it('continues exactly after restore(state())', () => {
    const a = new TokenDataset(arange(5000), { contextLength: 16, batchSize: 2, seed: 7 });
    a.next();
    const saved = a.state();
    const expected = [a.next(), a.next()];
    const b = new TokenDataset(arange(5000), { contextLength: 16, batchSize: 2, seed: 99 });
    b.restore(JSON.parse(JSON.stringify(saved)));
    expect([b.next(), b.next()]).toEqual(expected);
  });

  it('uploads as int32 tensors', async () => {
    const data = new TokenDataset(arange(100), { contextLength: 4, batchSize: 2, validationFraction: 0 });
    const batch = uploadBatch(data.next());
    expect(batch.ids.dtype).toBe('int32');
    expect(batch.ids.shape).toEqual([2, 4]);
    const ids = Array.from(await batch.ids.data());
    expect(Array.from(await batch.targets.data())).toEqual(ids.map((t) => t + 1));
    expect(tokenBatchInput(data.batchAt([0])).ids.shape).toEqual([1, 4]);
  });

  it('explains bad states and options', () => {
    const data = new TokenDataset(arange(100), { contextLength: 4 });
    expect(() => data.restore({ seed: 1 })).toThrow(
      /TokenDataset\.restore: expected a sampler state \{ seed, counter \} from state\(\), got \{"seed":1\}/,
    );
    expect(() => data.restore([1, 2])).toThrow(/expected a sampler state/);
    expect(() => data.restore({ seed: -1, counter: 0 })).toThrow(
      /seed must be a non-negative safe integer, got -1/,
    );
    expect(() => new TokenDataset(arange(100), { contextLength: 4, batchSize: 0 })).toThrow(
      /TokenDataset: batchSize must be a positive integer, got 0/,
    );
    expect(() => new TokenDataset(arange(100), { contextLength: 4, seed: 1.5 })).toThrow(
      /seed must be a non-negative safe integer, got 1.5/,
    );
  });

  it('must agree with the Trainer config when its batch size or seed is set', () => {
    const data = new TokenDataset(arange(1000), { contextLength: 8, batchSize: 4 });
    const model = new TinyLM(1000);
    expect(() => new Trainer({ model, data, config: { batchSize: 16 }, progress: false })).toThrow(
      /the TokenDataset was created with batchSize 4 but the config's batchSize is 16/,
    );
    expect(() => new Trainer({ model, data, config: { batchSize: 4 }, progress: false })).not.toThrow();
    expect(() => new Trainer({ model, data, progress: false, outDir: 'runs/x' } as never)).toThrow(
      /outDir needs Node's file system; import \{ Trainer \} from '@kiln\/trainer\/node'/,
    );
    expect(() => new Trainer({ model, data: { next: () => ({}) } as never, progress: false })).toThrow(
      /data must be a TokenDataset or a BatchSource \{ next\(\), state\(\), restore\(\) \}/,
    );
  });
});

describe('trainer state files', () => {
  const base = {
    format: 'kiln-trainer-state',
    step: 3,
    tokens: 96,
    elapsedSeconds: 1.5,
    rng: { seed: 1, counter: 2 },
    optimizer: { kind: 'adamw', step: 3, hyperparameters: {} },
  };

  it('reads version 2 (data) and version 1 (sampler) as the source state', () => {
    const v2 = parseTrainerState({ ...base, version: 2, data: { position: 5 } }, 'x');
    expect(v2.data).toEqual({ position: 5 });
    const v1 = parseTrainerState({ ...base, version: 1, sampler: { seed: 9, counter: 12 } }, 'x');
    expect(v1).toMatchObject({ version: 2, step: 3, data: { seed: 9, counter: 12 } });
    expect(v1).not.toHaveProperty('sampler');
  });

  it('explains files that are not trainer states', () => {
    expect(() => parseTrainerState({ ...base, version: 3, data: 1 }, 'a.json')).toThrow(
      /a\.json: not a Kiln trainer state \(format "kiln-trainer-state", version 3\)/,
    );
    expect(() => parseTrainerState({ ...base, version: 2 }, 'a.json')).toThrow(
      /a\.json: the state has no data position to resume from/,
    );
    expect(() => parseTrainerState({ ...base, version: 2, step: -1, data: 1 }, 'a.json')).toThrow(
      /step must be a non-negative integer, got -1/,
    );
  });
});
