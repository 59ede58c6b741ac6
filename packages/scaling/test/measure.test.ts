// "This machine": a tiny smoke run of the matmul measurement (speed numbers live in benchmarks).
import { init } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { estimateTraining, measureThisMachine } from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('measureThisMachine', () => {
  it('returns an fp32-only accelerator that estimates work', async () => {
    const here = await measureThisMachine({ size: 32, reps: 1, samples: 1, memoryBytes: 8e9 });
    expect(here.id).toBe('this-machine');
    expect(here.peakFlops.fp32).toBeGreaterThan(0);
    expect(here.peakFlops.bf16).toBeNull();
    const e = estimateTraining({ params: 1e6, tokens: 1e6, accelerator: here, mfu: 0.5 });
    expect(e.format).toBe('fp32');
    expect(e.cost).toBeNull();
    expect(e.seconds).toBeCloseTo(6e12 / (here.peakFlops.fp32! * 0.5), 6);
    await expect(measureThisMachine({ size: 0 })).rejects.toThrow(/size must be a positive integer/);
  });
});
