/**
 * Every matmul kernel variant, forced one at a time with KILN_MATMUL_VARIANT, against the CPU
 * backend: awkward sizes (1, 3, 7, 33, 257), sizes aligned for the vec4 variants, M = 1 and
 * N = 1 (matrix-vector), transposed operands read in place, batch broadcasting, float16.
 *
 * A forced variant that does not apply to some operands (vec4 loads on unaligned rows, subgroup
 * variants without the feature) falls back to the normal choice; the test checks that each
 * variant does apply to at least one case here, so none goes untested by accident.
 * Tolerances as in linalg.test.ts (f32 accumulation vs the CPU's float64).
 */
import { matmul } from '@kiln/tensor';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { View } from '../../src/backend.js';
import { MATMUL_VARIANTS, matmulVariantApplies } from '../../src/backends/webgpu/kernels/matmul.js';
import { rowvecLayout } from '../../src/backends/webgpu/kernels/matmul-rowvec.js';
import { compare, gpu, type HostSpec, make, randomSpec, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);
afterEach(() => {
  delete process.env.KILN_MATMUL_VARIANT;
});

const tol = (k: number) => ({ rtol: 1e-5, atol: 2e-5 * Math.sqrt(k) });
const halfTol = (k: number) => ({ rtol: 2e-3, atol: 2e-3 * Math.sqrt(k) });

/** A [batch, rows, cols] view description, enough for the variants' applicability checks. */
function view(shape: number[], strides: number[], dtype: 'float32' | 'float16' = 'float32'): View {
  return { storage: null, dtype, shape, strides, offset: 0 } as unknown as View;
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 33],
  [33, 257, 7],
  [7, 3, 257],
  [33, 36, 44], // K and N multiples of 4: vec4 variants apply
  [1, 64, 40], // M = 1: generation's vector × matrix
  [40, 64, 1], // N = 1: matrix × vector
];

describe.skipIf(!!skipReason)(suiteName('webgpu matmul variants vs cpu'), () => {
  const subgroups = gpu?.info.features.includes('subgroups') ?? false;
  const f16 = gpu?.info.dtypes.includes('float16') ?? false;

  for (const variant of MATMUL_VARIANTS) {
    it(`${variant}: sizes, transposes, batch broadcast${f16 ? ', float16' : ''}`, async () => {
      process.env.KILN_MATMUL_VARIANT = variant;
      let applied = 0;
      const counts = (a: View, b: View) => {
        if (matmulVariantApplies(variant, a, b, 65535, subgroups)) applied++;
      };
      for (const [m, k, n] of SIZES) {
        const a = randomSpec([m, k], 'float32', { seed: m * 7 + k });
        const b = randomSpec([k, n], 'float32', { seed: k * 5 + n });
        counts(view([1, m, k], [m * k, k, 1]), view([1, k, n], [k * n, n, 1]));
        await compare((be) => matmul(make(be, a), make(be, b)), tol(k), `${variant} [${m},${k}]@[${k},${n}]`);
      }

      // transposed operands read in place: aT [k, m] viewed as [m, k] with strides (1, m)
      const at = randomSpec([36, 33], 'float32', { seed: 21 });
      const bt = randomSpec([44, 36], 'float32', { seed: 22 });
      counts(view([1, 33, 36], [0, 1, 33]), view([1, 36, 44], [0, 1, 36]));
      await compare((be) => matmul(make(be, at).T, make(be, bt).T), tol(36), `${variant} aT @ bT`);
      const b2 = randomSpec([36, 44], 'float32', { seed: 23 });
      await compare((be) => matmul(make(be, at).T, make(be, b2)), tol(36), `${variant} aT @ b`);
      // x @ Wᵀ with N > 128: several 64-lane column sets (sgband12x2's second column), K % 8 != 0
      const x = randomSpec([13, 19], 'float32', { seed: 32 });
      const w = randomSpec([130, 19], 'float32', { seed: 33 });
      counts(view([1, 13, 19], [0, 19, 1]), view([1, 19, 130], [0, 1, 19]));
      await compare((be) => matmul(make(be, x), make(be, w).T), tol(19), `${variant} x @ wT`);

      // every operand layout the row-vec kernels read (A along K or M, B along N or K), with
      // M not a multiple of 16, N not a multiple of 64 (and not of 4 for a transposed B), batches
      const ta = randomSpec([40, 36], 'float32', { seed: 34 }); // Aᵀ: [K, M], M % 4 = 0
      const rb = randomSpec([40, 72], 'float32', { seed: 35 });
      const ra = randomSpec([37, 40], 'float32', { seed: 36 });
      const tb = randomSpec([70, 40], 'float32', { seed: 37 }); // Bᵀ: [N, K]
      counts(view([1, 36, 40], [1, 1, 36]), view([1, 40, 72], [1, 72, 1]));
      await compare((be) => matmul(make(be, ta).T, make(be, rb)), tol(40), `${variant} aT @ b (M % 4 = 0)`);
      await compare((be) => matmul(make(be, ra), make(be, tb).T), tol(40), `${variant} a @ bT (N = 70)`);
      await compare((be) => matmul(make(be, ta).T, make(be, tb).T), tol(40), `${variant} aT @ bT`);
      const ta3 = randomSpec([3, 40, 36], 'float32', { seed: 38 });
      const tb3 = randomSpec([3, 70, 40], 'float32', { seed: 39 });
      await compare(
        (be) => matmul(make(be, ta3).transpose(1, 2), make(be, tb3).transpose(1, 2)),
        tol(40),
        `${variant} batched aT @ bT`,
      );

      // batches: broadcast B (batch stride 0) and broadcast A over a batch of B
      const a3 = randomSpec([2, 3, 5, 8], 'float32', { seed: 24 });
      const b3 = randomSpec([8, 12], 'float32', { seed: 25 });
      counts(view([6, 5, 8], [40, 8, 1]), view([6, 8, 12], [0, 12, 1]));
      await compare((be) => matmul(make(be, a3), make(be, b3)), tol(8), `${variant} [2,3,5,8]@[8,12]`);
      const a4 = randomSpec([2, 1, 5, 8], 'float32', { seed: 26 });
      const b4 = randomSpec([3, 8, 12], 'float32', { seed: 27 });
      await compare((be) => matmul(make(be, a4), make(be, b4)), tol(8), `${variant} [2,1,5,8]@[3,8,12]`);

      if (f16) {
        const specs: [HostSpec, HostSpec][] = [
          [randomSpec([33, 36], 'float16', { seed: 28 }), randomSpec([36, 44], 'float16', { seed: 29 })],
          [randomSpec([7, 33], 'float16', { seed: 30 }), randomSpec([33, 3], 'float16', { seed: 31 })],
        ];
        for (const [a, b] of specs) {
          await compare((be) => matmul(make(be, a), make(be, b)), halfTol(a.shape[1]), `${variant} f16`);
        }
        const [a, b] = specs[0];
        await compare((be) => matmul(make(be, b).T, make(be, a).T), halfTol(36), `${variant} f16 transposed`);
        const ha = randomSpec([40, 36], 'float16', { seed: 42 });
        const hb = randomSpec([70, 40], 'float16', { seed: 43 });
        await compare((be) => matmul(make(be, ha).T, make(be, hb).T), halfTol(40), `${variant} f16 aT @ bT`);
      }
      // every variant must have been exercised by some case (subgroup ones need the feature)
      if (!variant.startsWith('sg') || subgroups) expect(applied).toBeGreaterThan(0);
    });
  }

  it('row-vec kernels: which way each operand is read, and where they do not apply', () => {
    // a 2-D operand's [1, R, C] view has batch stride 1: unused, so it does not block vec4 loads
    const rows = (r: number, c: number) => view([1, r, c], [1, c, 1]);
    const cols = (r: number, c: number) => view([1, r, c], [1, 1, r]);
    expect(rowvecLayout(rows(33, 36), rows(36, 44))).toEqual({ a: 'k', b: 'n' });
    expect(rowvecLayout(cols(36, 40), rows(40, 72))).toEqual({ a: 'm', b: 'n' });
    expect(rowvecLayout(rows(37, 40), cols(40, 70))).toEqual({ a: 'k', b: 'k' });
    expect(rowvecLayout(cols(36, 40), cols(40, 70))).toEqual({ a: 'm', b: 'k' });
    expect(rowvecLayout(rows(8, 19), rows(19, 8))).toBeUndefined(); // K % 4 != 0
    expect(rowvecLayout(cols(33, 36), rows(36, 44))).toBeUndefined(); // Aᵀ with M % 4 != 0
    expect(rowvecLayout(rows(8, 36), rows(36, 42))).toBeUndefined(); // B rows with N % 4 != 0
    expect(rowvecLayout(view([2, 8, 36], [290, 36, 1]), rows(36, 8))).toBeUndefined(); // batch stride % 4
  });

  // (skipped when the environment turns the autotune off)
  it.skipIf(process.env.KILN_MATMUL_AUTOTUNE === '0')(
    'autotune: a big enough product queues its class, the next readback measures and caches it',
    async () => {
      const tuned = gpu as unknown as { matmulRankings(): Record<string, { variant: string; ms: number }[]> };
      const before = Object.keys(tuned.matmulRankings()).length;
      const a = randomSpec([256, 256], 'float32', { seed: 40 });
      const b = randomSpec([256, 256], 'float32', { seed: 41 });
      // the comparison's readback runs the tuning; the second product uses the cached ranking
      await compare((be) => matmul(make(be, a), make(be, b)), tol(256), 'autotune 256³ (heuristic)');
      const rankings = tuned.matmulRankings();
      expect(Object.keys(rankings).length).toBe(before + 1);
      const ranking = Object.values(rankings).at(-1) ?? [];
      expect(ranking.length).toBeGreaterThan(1);
      for (let i = 1; i < ranking.length; i++)
        expect(ranking[i].ms).toBeGreaterThanOrEqual(ranking[i - 1].ms);
      await compare((be) => matmul(make(be, a), make(be, b)), tol(256), 'autotune 256³ (tuned)');
      expect(Object.keys(tuned.matmulRankings()).length).toBe(before + 1);
    },
  );
});
