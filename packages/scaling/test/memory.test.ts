// The memory model against hand-computed bytes.
import { describe, expect, it } from 'vitest';
import { activationBytes, stateBytesPerParameter, trainingMemory } from '../src/index.js';

describe('model states', () => {
  it('counts 16 bytes per parameter for AdamW in fp32 and mixed precision, 18 with fp32 gradients', () => {
    expect(stateBytesPerParameter('fp32', 'adamw')).toEqual({ weights: 4, gradients: 4, optimizer: 8 });
    expect(stateBytesPerParameter('mixed', 'adamw')).toEqual({ weights: 2, gradients: 2, optimizer: 12 });
    expect(stateBytesPerParameter('mixed-fp32-grads', 'adamw')).toEqual({
      weights: 2,
      gradients: 4,
      optimizer: 12,
    });
    expect(stateBytesPerParameter('fp32', 'sgd').optimizer).toBe(0);
    expect(stateBytesPerParameter('mixed', 'sgd-momentum').optimizer).toBe(8);
  });

  it('shards states over devices (ZeRO-3) and adds activations', () => {
    const m = trainingMemory({ params: 1e9, precision: 'mixed', shards: 8 });
    expect(m.weights).toBe(2e9 / 8);
    expect(m.total).toBe(16e9 / 8);
    expect(m.bytesPerParameter).toBe(16);
    expect(() => trainingMemory({ params: 1e9, shards: 0 })).toThrow(/shards/);
    expect(() => trainingMemory({ params: 1e9, precision: 'fp8' as never })).toThrow(
      /precision must be one of/,
    );
  });
});

describe('activations (Korthikanti et al. 2022)', () => {
  // GPT-3 175B shape: s = 2048, h = 12288, a = 96, 96 layers, micro-batch 1.
  const shape = { nLayers: 96, dModel: 12288, nHeads: 96, seqLen: 2048, microBatch: 1 };
  const sbh = 2048 * 12288;

  it('is s·b·h·(34 + 5as/h) per layer without recomputation', () => {
    expect(activationBytes(shape, 'none')).toBe(96 * sbh * (34 + (5 * 96 * 2048) / 12288));
  });

  it('is 34·sbh with selective and 2·sbh with full recomputation, and doubles in fp32', () => {
    expect(activationBytes(shape, 'selective')).toBe(96 * 34 * sbh);
    expect(activationBytes(shape, 'full')).toBe(96 * 2 * sbh);
    expect(activationBytes(shape, 'full', 'fp32')).toBe(96 * 4 * sbh);
  });

  it('adds fp32 logits when the vocabulary is given', () => {
    expect(activationBytes({ ...shape, vocabSize: 50000 }, 'full') - activationBytes(shape, 'full')).toBe(
      4 * 2048 * 50000,
    );
  });
});
