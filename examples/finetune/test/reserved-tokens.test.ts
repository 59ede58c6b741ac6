// Re-initialising never-trained output rows from the distribution of the trained ones.
import { noGrad } from '@kiln/autograd';
import { init, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { cholesky, initReservedOutputRows, sampleLikeRows } from '../src/reserved-tokens.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('reserved output rows', () => {
  it('factors a covariance: L·Lᵀ reproduces a hand-made symmetric positive-definite matrix', () => {
    // [[4, 2], [2, 3]] = L·Lᵀ with L = [[2, 0], [1, √2]] (by hand).
    const l = cholesky(Float64Array.from([4, 2, 2, 3]), 2, 0);
    expect(l[0]).toBeCloseTo(2, 12);
    expect(l[1]).toBe(0);
    expect(l[2]).toBeCloseTo(1, 12);
    expect(l[3]).toBeCloseTo(Math.SQRT2, 12);
  });

  it('draws rows with the mean and covariance of the others, ignoring the skipped rows', () => {
    // Rows (1, 0), (3, 0), (1, 4), (3, 4): mean (2, 2), covariance diag(4/3, 16/3) (n − 1 = 3),
    // plus a wild row 4 that is skipped.
    const w = Float32Array.from([1, 0, 3, 0, 1, 4, 3, 4, 1000, -1000]);
    const n = 20_000;
    const draws = sampleLikeRows(w, 5, 2, new Set([4]), n, 3);
    const mean = [0, 0];
    for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) mean[j] += draws[i * 2 + j] / n;
    const cov = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const [a, b] = [draws[i * 2] - mean[0], draws[i * 2 + 1] - mean[1]];
      cov[0] += (a * a) / n;
      cov[1] += (a * b) / n;
      cov[2] += (b * b) / n;
    }
    expect(mean[0]).toBeCloseTo(2, 1);
    expect(mean[1]).toBeCloseTo(2, 1);
    expect(cov[0]).toBeCloseTo(4 / 3, 1);
    expect(Math.abs(cov[1])).toBeLessThan(0.1);
    expect(cov[2] / (16 / 3)).toBeCloseTo(1, 1);
    // Seeded: the same seed gives the same rows.
    expect(sampleLikeRows(w, 5, 2, new Set([4]), 4, 3)).toEqual(draws.subarray(0, 8));
  });

  it('replaces only the chosen rows of the head, with rows of typical size', async () => {
    manualSeed(0);
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 40,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
      tieEmbeddings: false,
    });
    const head = model.namedParameters().find(([n]) => n === 'head.weight')![1];
    // Make the trained rows large, as training does, so the replaced rows must grow to match.
    noGrad(() => head.assign(head.mul(50)));
    const before = Float32Array.from(await head.data());
    expect(await initReservedOutputRows(model, [39, 37, 39], 1)).toEqual([37, 39]);
    const after = await head.data();
    const norm = (a: ArrayLike<number>, r: number) =>
      Math.hypot(...Array.from({ length: 8 }, (_, j) => a[r * 8 + j]));
    for (let r = 0; r < 40; r++) {
      if (r === 37 || r === 39) expect(norm(after, r)).toBeGreaterThan(0.3 * norm(before, 0));
      else for (let j = 0; j < 8; j++) expect(after[r * 8 + j]).toBe(before[r * 8 + j]);
    }
    await expect(initReservedOutputRows(model, [40])).rejects.toThrow(/40 is not a token id in \[0, 40\)/);
    model.dispose();
  });
});
