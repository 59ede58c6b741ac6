// Training cost: the Llama 2 paper's GPU-hours and the well-known summary of its 70B run.
import { describe, expect, it } from 'vitest';
import { ACCELERATORS, estimateTraining, getAccelerator, impliedMfu, peakFlops } from '../src/index.js';

// Touvron et al. 2023, "Llama 2", table 2: A100-80GB GPU-hours for 2T tokens. Parameter counts
// of the released checkpoints.
const LLAMA2 = [
  { name: '7B', params: 6_738_415_616, hours: 184_320 },
  { name: '13B', params: 13_015_864_320, hours: 368_640 },
  { name: '70B', params: 68_976_648_192, hours: 1_720_320 },
];
const TOKENS = 2e12;
const A100_BF16 = 312e12; // dense bf16 peak from NVIDIA's A100 datasheet

describe('Llama 2 GPU-hours', () => {
  for (const { name, params, hours } of LLAMA2) {
    it(`${name}: the implied MFU (6·N·D FLOPs) is 6·N·D / (hours · 3600 · 312 TFLOP/s), and the estimate returns the paper's hours at it`, () => {
      const mfu = impliedMfu({ params, tokens: TOKENS, acceleratorHours: hours, accelerator: 'a100-80gb' });
      expect(mfu).toBeCloseTo((6 * params * TOKENS) / (hours * 3600 * A100_BF16), 12);
      expect(mfu).toBeGreaterThan(0.37);
      expect(mfu).toBeLessThan(0.44);
      const e = estimateTraining({ params, tokens: TOKENS, accelerator: 'a100-80gb', mfu });
      expect(e.acceleratorHours).toBeCloseTo(hours, 6);
      expect(e.format).toBe('bf16');
    });
  }

  it('one MFU of 0.4 reproduces all three within 8%', () => {
    for (const { params, hours } of LLAMA2) {
      const e = estimateTraining({ params, tokens: TOKENS, accelerator: 'a100-80gb', mfu: 0.4 });
      expect(Math.abs(e.acceleratorHours / hours - 1)).toBeLessThan(0.08);
    }
  });

  it('the 70B run: about 6,000 GPUs for about 12 days, about $2M, a 140 GB parameter file', () => {
    const { params, hours } = LLAMA2[2];
    const mfu = impliedMfu({ params, tokens: TOKENS, acceleratorHours: hours, accelerator: 'a100-80gb' });
    const e = estimateTraining({ params, tokens: TOKENS, accelerator: 'a100-80gb', count: 6000, mfu });
    expect(e.days).toBeCloseTo(hours / 6000 / 24, 9); // 11.9 days
    expect(e.days).toBeGreaterThan(11.5);
    expect(e.days).toBeLessThan(12.5);
    expect(e.pricePerHour).toBe(getAccelerator('a100-80gb').pricePerHour);
    expect(e.cost!).toBeCloseTo(hours * 1.2, 3); // the table's default $1.20 per A100-hour
    expect(e.cost! / 1e6).toBeGreaterThan(1.8);
    expect(e.cost! / 1e6).toBeLessThan(2.2);
    expect(e.parameterFileBytes).toBe(params * 2); // 138 GB ≈ "140 GB"
    expect(e.parameterFileBytes / 1e9).toBeCloseTo(138, 0);
    // Sharded over 6000 GPUs the 16 bytes/parameter of model states fit easily; one replica does not.
    expect(e.fits).toBe(true);
    expect(e.memory.total).toBeCloseTo((params * 16) / 6000, 0);
    const replica = estimateTraining({
      params,
      tokens: TOKENS,
      accelerator: 'a100-80gb',
      count: 6000,
      mfu,
      sharding: 'none',
    });
    expect(replica.fits).toBe(false);
  });

  it('a price override changes only the cost; no price gives a null cost', () => {
    const e = estimateTraining({ params: 7e9, tokens: 1e12, accelerator: 'h100-sxm', pricePerHour: 3 });
    expect(e.cost).toBeCloseTo(e.acceleratorHours * 3, 6);
    const custom = { ...getAccelerator('h100-sxm'), pricePerHour: null };
    expect(estimateTraining({ params: 7e9, tokens: 1e12, accelerator: custom }).cost).toBeNull();
  });
});

describe('estimateTraining', () => {
  it('uses the config for attention FLOPs and activations', () => {
    const config = {
      family: 'gpt2' as const,
      vocabSize: 50257,
      contextLength: 1024,
      nLayers: 12,
      nHeads: 12,
      dModel: 768,
    };
    const e = estimateTraining({
      params: config,
      tokens: 1e9,
      accelerator: 'a100-40gb',
      microBatch: 8,
      count: 1,
    });
    expect(e.flopsPerToken).toBeGreaterThan(6 * e.params * 0.9);
    expect(e.memory.activations).toBeGreaterThan(0);
    const ckpt = estimateTraining({
      params: config,
      tokens: 1e9,
      accelerator: 'a100-40gb',
      microBatch: 8,
      checkpointing: 'full',
    });
    expect(ckpt.memory.activations).toBeLessThan(e.memory.activations / 5);
  });

  it('rejects bad input with the field named', () => {
    expect(() => estimateTraining({ params: 1e9, tokens: 1e9, accelerator: 'a100' })).toThrow(
      /unknown accelerator 'a100'.*a100-80gb/,
    );
    expect(() => estimateTraining({ params: 1e9, tokens: 1e9, accelerator: 'a100-80gb', mfu: 40 })).toThrow(
      /mfu must be in \(0, 1\]/,
    );
    expect(() =>
      estimateTraining({ params: 1e9, tokens: 1e9, accelerator: 'a100-80gb', count: 1.5 }),
    ).toThrow(/count/);
    expect(() =>
      estimateTraining({ params: 1e9, tokens: 1e9, accelerator: 'tpu-v5e', format: 'fp32' }),
    ).toThrow(/no fp32 peak/);
  });
});

describe('the accelerator table', () => {
  it('has a source for every entry and dense peaks ordered fp32 < tf32 < bf16 where present', () => {
    expect(ACCELERATORS.map((a) => a.id)).toEqual(
      expect.arrayContaining([
        'a100-40gb',
        'a100-80gb',
        'h100-sxm',
        'h100-pcie',
        'h200',
        'b200',
        'mi300x',
        'tpu-v5e',
      ]),
    );
    for (const a of ACCELERATORS) {
      expect(a.source).toMatch(/^https:\/\//);
      const { fp32, tf32, bf16 } = a.peakFlops;
      if (fp32 !== null && tf32 !== null) expect(fp32).toBeLessThan(tf32);
      if (tf32 !== null && bf16 !== null) expect(tf32).toBeLessThan(bf16);
      expect(peakFlops(a).format).toBe('bf16');
    }
  });
});
