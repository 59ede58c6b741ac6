/**
 * Index ops, webgpu vs cpu: embedding, gather, indexSelect (repeated and strided indices),
 * scatterAdd (repeated indices: atomics), topk (ties, NaN, non-last axis, every dtype),
 * oneHot, and multinomial (a statistical check, since it is random).
 *
 * Tolerances: gathers and topk are exact (they copy stored values); float scatterAdd sums in
 * a nondeterministic order in float32, so rtol 1e-6·(repeats) + atol 1e-6; float16 2e-3.
 */
import {
  embedding,
  gather,
  indexSelect,
  manualSeed,
  multinomial,
  oneHot,
  scatterAdd,
  tensor,
  topk,
} from '@kiln/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compare,
  gpu,
  type HostSpec,
  make,
  randomSpec,
  shutdown,
  skipReason,
  suiteName,
  TOL,
} from './helpers.js';

afterAll(shutdown);

const ids = (data: number[], shape = [data.length]): HostSpec => ({ data, shape, dtype: 'int32' });

describe.skipIf(!!skipReason)(suiteName('webgpu index ops vs cpu'), () => {
  it('embedding with repeated ids, float32 and float16', async () => {
    const w = randomSpec([33, 7]);
    const wh = randomSpec([33, 7], 'float16');
    const i = ids([0, 5, 5, 32, 1, 0, 7, 7, 7, 2], [2, 5]);
    await compare((be) => [embedding(make(be, i), make(be, w)), embedding(make(be, i), make(be, wh))]);
  });

  it('gather along each axis, strided x and index, every dtype', async () => {
    for (const dtype of ['float32', 'float16', 'int32', 'uint32', 'bool'] as const) {
      const x = randomSpec([4, 5, 6], dtype);
      for (let axis = 0; axis < 3; axis++) {
        const size = [4, 5, 6][axis];
        const shape = [3, 4, 5].map((d, k) => (k === axis ? 7 : Math.min(d, [4, 5, 6][k])));
        const n = shape.reduce((a, b) => a * b, 1);
        const idx = ids(
          Array.from({ length: n }, (_, k) => (k * 7 + 3) % size),
          shape,
        );
        await compare((be) => gather(make(be, x), axis, make(be, idx)), {}, `gather ${dtype} axis ${axis}`);
      }
    }
    const x = randomSpec([6, 5]);
    const idx = ids([0, 1, 2, 3, 4, 0, 5, 5, 1, 2], [5, 2]);
    await compare((be) => gather(make(be, x).T, 1, make(be, idx)), {}, 'gather transposed x');
    await compare((be) => gather(make(be, x), 0, make(be, idx).T), {}, 'gather transposed index');
  });

  it('indexSelect along each axis with repeated and strided indices', async () => {
    const x = randomSpec([5, 6, 7]);
    const idx = ids([4, 0, 0, 3, 2, 2, 1, 0]);
    for (let axis = 0; axis < 3; axis++) {
      await compare((be) => indexSelect(make(be, x), axis, make(be, idx)), {}, `indexSelect axis ${axis}`);
    }
    await compare(
      (be) => indexSelect(make(be, x).transpose(0, 2), 1, make(be, idx).slice(0, 0, 8, 3)),
      {},
      'strided',
    );
    const xi = randomSpec([5, 6], 'int32');
    await compare((be) => indexSelect(make(be, xi), 0, make(be, idx)), {}, 'int32');
  });

  it('scatterAdd with repeated indices (atomics) for every dtype', async () => {
    const cases = [
      { dtype: 'float32', tol: { rtol: 1e-5, atol: 1e-6 } },
      // 8 float16 additions land on each element in whatever order the atomics take; each rounds
      // by up to half an ulp of its partial sum (2^-9 for sums of 4–8), so two orders can differ
      // by several of those: TOL.half alone failed now and then (2.0801 vs 2.0742)
      { dtype: 'float16', tol: { rtol: TOL.half.rtol, atol: 8 * 2 ** -9 } },
      { dtype: 'int32', tol: {} },
      { dtype: 'uint32', tol: {} },
      { dtype: 'bool', tol: {} },
    ] as const;
    for (const { dtype, tol } of cases) {
      const x = randomSpec([5, 7], dtype, { seed: 1 });
      const src = randomSpec([40, 7], dtype, { seed: 2 });
      const idx = ids(
        Array.from({ length: 280 }, (_, k) => (k * 13) % 5),
        [40, 7],
      );
      await compare(
        (be) => scatterAdd(make(be, x), 0, make(be, idx), make(be, src)),
        tol,
        `scatterAdd ${dtype} axis 0`,
      );
      const idx1 = ids(
        Array.from({ length: 5 * 30 }, (_, k) => (k * 5) % 7),
        [5, 30],
      );
      const src1 = randomSpec([5, 30], dtype, { seed: 3 });
      await compare(
        (be) => scatterAdd(make(be, x), 1, make(be, idx1), make(be, src1)),
        tol,
        `scatterAdd ${dtype} axis 1`,
      );
    }
    // many collisions on one element: the compare-exchange loop must not lose updates
    const one = ids(new Array(1000).fill(2), [1000, 1]);
    const ones = { data: new Float32Array(1000).fill(1), shape: [1000, 1], dtype: 'float32' } as HostSpec;
    await compare((be) => scatterAdd(make(be, randomSpec([3, 1])), 0, make(be, one), make(be, ones)), {
      rtol: 1e-6,
    });
    const strided = randomSpec([10, 7]);
    await compare(
      (be) =>
        scatterAdd(
          make(be, randomSpec([7, 5])),
          0,
          make(be, ids([0, 1, 2, 3, 4, 5, 6, 0, 1, 2], [2, 5])),
          make(be, strided).T.slice(0, 0, 2).slice(1, 0, 10, 2),
        ),
      { rtol: 1e-6, atol: 1e-6 },
      'strided src',
    );
  });

  it('topk: k from 1 to n, largest and smallest, ties, NaN, non-last axis, dtypes', async () => {
    const ties = randomSpec([7, 33], 'int32', { low: -3, high: 3 });
    for (const k of [1, 3, 33]) {
      for (const largest of [true, false]) {
        await compare((be) => topk(make(be, ties), k, { largest }), {}, `int32 k=${k} largest=${largest}`);
      }
    }
    const f = randomSpec([5, 257]);
    const d = f.data as Float32Array;
    d[3] = Number.NaN;
    d[300] = Number.NaN;
    d[301] = Number.NaN;
    d[10] = Number.POSITIVE_INFINITY;
    d[11] = Number.NEGATIVE_INFINITY;
    for (const largest of [true, false]) {
      await compare((be) => topk(make(be, f), 5, { largest }), {}, `float NaN largest=${largest}`);
      await compare((be) => topk(make(be, f), 3, { axis: 0, largest }), {}, `axis 0 largest=${largest}`);
    }
    await compare((be) => topk(make(be, randomSpec([2, 1000])), 10), {}, 'n=1000');
    await compare((be) => topk(make(be, randomSpec([7, 33], 'float16')), 4), {}, 'f16');
    await compare(
      (be) => topk(make(be, randomSpec([7, 33], 'uint32', { high: 5 })), 4, { largest: false }),
      {},
      'uint32',
    );
    await compare((be) => topk(make(be, randomSpec([33, 7])).T, 2), {}, 'transposed input');
  });

  it('oneHot, int32 and float output', async () => {
    const i = ids([0, 4, 2, 2, 1, 3], [2, 3]);
    await compare((be) => [oneHot(make(be, i), 5), oneHot(make(be, i), 7, { dtype: 'float32' })]);
  });

  it('multinomial draws follow the weights (statistical check, 5 sigma)', async () => {
    manualSeed(42);
    const probs = tensor([0.1, 0, 0.2, 0.7], { backend: gpu });
    const draws = 4000;
    const withReplacement = multinomial(probs, draws, { replacement: true });
    const counts = [0, 0, 0, 0];
    for (const v of await withReplacement.data()) counts[v]++;
    const p = [0.1, 0, 0.2, 0.7];
    for (let c = 0; c < 4; c++) {
      const sigma = Math.sqrt(draws * p[c] * (1 - p[c]));
      expect(Math.abs(counts[c] - draws * p[c])).toBeLessThanOrEqual(5 * sigma + 1e-9);
    }
    // without replacement: distinct categories, never the zero-weight one; the heaviest is usually first
    const rows = tensor([0.1, 0, 0.2, 0.7], { backend: gpu }).reshape([1, 4]).expand([500, 4]).contiguous();
    const picks = await multinomial(rows, 3).toArray();
    let heavyFirst = 0;
    for (const row of picks as number[][]) {
      expect(new Set(row).size).toBe(3);
      expect(row).not.toContain(1);
      if (row[0] === 3) heavyFirst++;
    }
    const pFirst = 0.7;
    expect(Math.abs(heavyFirst - 500 * pFirst)).toBeLessThanOrEqual(
      5 * Math.sqrt(500 * pFirst * (1 - pFirst)),
    );
    for (const t of [probs, withReplacement, rows]) t.dispose();
  });
});
