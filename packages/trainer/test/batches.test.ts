import { init } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchToTensors, TokenDataset, WindowSampler } from '../src/index.js';

const arange = (n: number) => Uint16Array.from({ length: n }, (_, i) => i);

describe('WindowSampler', () => {
  it('produces the same draws as the Python reference (scripts/reference/gpt.py sample-windows)', () => {
    const sampler = new WindowSampler(1337);
    expect(Array.from({ length: 8 }, () => sampler.nextInt(1000))).toEqual([
      204, 904, 740, 827, 545, 510, 301, 720,
    ]);
    // 64-bit seeds and counters past 2^32 use both words of the key and position.
    const far = new WindowSampler({ seed: Number.MAX_SAFE_INTEGER, counter: 4294967290 });
    expect(Array.from({ length: 4 }, () => far.nextInt(2 ** 32))).toEqual([
      2119015914, 3793647927, 322380464, 3486111022,
    ]);
  });

  it('resumes exactly from a saved (JSON round-tripped) state', () => {
    const uninterrupted = new WindowSampler(42);
    const expected = Array.from({ length: 20 }, () => uninterrupted.nextInt(12345));
    const first = new WindowSampler(42);
    const head = Array.from({ length: 7 }, () => first.nextInt(12345));
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ seed: 42, counter: 7 });
    const resumed = new WindowSampler(saved);
    expect([...head, ...Array.from({ length: 13 }, () => resumed.nextInt(12345))]).toEqual(expected);
    first.setState({ seed: 42, counter: 0 });
    expect(first.nextInt(12345)).toBe(expected[0]);
  });

  it('is roughly uniform and stays in range', () => {
    const sampler = new WindowSampler(7);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const v = sampler.nextInt(10);
      expect(v >= 0 && v < 10).toBe(true);
      counts[v]++;
    }
    const chiSquare = counts.reduce((sum, c) => sum + (c - 2000) ** 2 / 2000, 0);
    expect(chiSquare).toBeLessThan(30); // 9 degrees of freedom: p ≈ 0.0005 at 30
    expect(new WindowSampler(1).nextInt(1)).toBe(0);
  });

  it('rejects bad seeds, states and ranges', () => {
    expect(() => new WindowSampler(-1)).toThrow(/seed must be a non-negative safe integer, got -1/);
    expect(() => new WindowSampler({ seed: 1, counter: 1.5 })).toThrow(
      /counter must be a non-negative safe integer/,
    );
    expect(() => new WindowSampler(1).nextInt(0)).toThrow(/range must be an integer in \[1, 2\^32\], got 0/);
    expect(() => new WindowSampler(1).setState({ seed: 'x' } as never)).toThrow(/seed/);
  });
});

describe('TokenDataset', () => {
  it('holds out the last 10% for validation by default', () => {
    const data = new TokenDataset(arange(1000), { contextLength: 8 });
    expect(data.trainTokens).toBe(900);
    expect(data.validationTokens).toBe(100);
    expect(data.trainWindowStarts).toBe(892);
    expect(data.validationWindows).toBe(12); // floor((100 - 1) / 8)
  });

  it('samples training windows whose targets are the inputs shifted by one, never touching validation', () => {
    const data = new TokenDataset(arange(200), { contextLength: 16, validationFraction: 0.25 });
    const sampler = new WindowSampler(3);
    for (let i = 0; i < 50; i++) {
      const batch = data.sampleTrainBatch(4, sampler);
      expect(batch.inputs).toBeInstanceOf(Int32Array);
      expect(batch.inputs.length).toBe(4 * 16);
      for (let b = 0; b < 4; b++) {
        const row = batch.inputs.subarray(b * 16, (b + 1) * 16);
        const targets = batch.targets.subarray(b * 16, (b + 1) * 16);
        for (let t = 0; t < 16; t++) {
          expect(row[t]).toBe(row[0] + t);
          expect(targets[t]).toBe(row[t] + 1);
        }
        expect(targets[15]).toBeLessThan(150); // the last training token is 149
      }
    }
  });

  it('draws the same batches as the sampler sequence, so resuming repeats nothing', () => {
    const data = new TokenDataset(arange(5000), { contextLength: 32 });
    const a = new WindowSampler(99);
    const batches = [data.sampleTrainBatch(3, a), data.sampleTrainBatch(3, a)];
    const b = new WindowSampler(99);
    data.sampleTrainBatch(3, b);
    const resumed = new WindowSampler(b.state());
    expect(data.sampleTrainBatch(3, resumed)).toEqual(batches[1]);
    expect(resumed.state()).toEqual({ seed: 99, counter: 6 });
  });

  it('yields sequential validation windows, a smaller last batch and an optional cap', () => {
    const data = new TokenDataset(arange(110), { contextLength: 4, validationFraction: 0.2 });
    // validation = tokens 88..109 (22 tokens) -> floor(21 / 4) = 5 windows starting at 88, 92, …, 104
    const batches = [...data.validationBatches(2)];
    expect(batches.map((b) => b.batchSize)).toEqual([2, 2, 1]);
    expect([...batches[0].inputs]).toEqual([88, 89, 90, 91, 92, 93, 94, 95]);
    expect([...batches[2].targets]).toEqual([105, 106, 107, 108]);
    const capped = [...data.validationBatches(10, { maxWindows: 3 })];
    expect(capped.map((b) => [...b.inputs.filter((_, i) => i % 4 === 0)])).toEqual([[88, 92, 96]]);
  });

  it('accepts plain arrays and uint32 tokens', () => {
    const data = new TokenDataset([5, 6, 7, 8, 9, 10, 11, 12, 13, 14], {
      contextLength: 2,
      validationFraction: 0.3,
    });
    expect([...data.batchAt([1]).inputs]).toEqual([6, 7]);
    const wide = new TokenDataset(Uint32Array.from([100000, 100001, 100002]), {
      contextLength: 2,
      validationFraction: 0,
    });
    expect([...wide.batchAt([0]).targets]).toEqual([100001, 100002]);
  });

  it('explains what is wrong with bad input', () => {
    expect(() => new TokenDataset(arange(100), { contextLength: 0 })).toThrow(
      /contextLength must be a positive integer, got 0/,
    );
    expect(() => new TokenDataset(arange(100), { contextLength: 4, validationFraction: 1 })).toThrow(
      /validationFraction must be in \[0, 1\), got 1/,
    );
    expect(() => new TokenDataset(arange(10), { contextLength: 16 })).toThrow(
      /training split has 9 tokens, fewer than one window of contextLength \+ 1 = 17/,
    );
    expect(() => new TokenDataset(arange(100), { contextLength: 16 })).toThrow(
      /validation split has 10 tokens.*fewer than one window of 17/,
    );
    expect(() => new TokenDataset([1, -2, 3], { contextLength: 1, validationFraction: 0 })).toThrow(
      /token -2 at index 1/,
    );
    const noValidation = new TokenDataset(arange(100), { contextLength: 4, validationFraction: 0 });
    expect(() => [...noValidation.validationBatches(4)]).toThrow(/there is no validation split/);
    expect(() => noValidation.sampleTrainBatch(0, new WindowSampler(1))).toThrow(
      /batchSize must be a positive integer, got 0/,
    );
    expect(() => noValidation.batchAt([97])).toThrow(/window start 97 is out of range for 100 tokens/);
  });
});

describe('batchToTensors', () => {
  beforeAll(async () => {
    await init({ backend: 'cpu' });
  });

  it('uploads a batch as int32 tensors of shape [batch, context]', async () => {
    const data = new TokenDataset(arange(100), { contextLength: 5, validationFraction: 0 });
    const batch = data.batchAt([0, 10]);
    const { inputs, targets } = batchToTensors(batch);
    expect(inputs.dtype).toBe('int32');
    expect(inputs.shape).toEqual([2, 5]);
    expect([...(await targets.data())]).toEqual([1, 2, 3, 4, 5, 11, 12, 13, 14, 15]);
    inputs.dispose();
    targets.dispose();
  });
});
