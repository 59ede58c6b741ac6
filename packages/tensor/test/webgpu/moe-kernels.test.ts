/**
 * The mixture-of-experts kernels, webgpu vs the cpu reference: groupedMatmul and groupedOuter
 * over random group sizes (empty groups, uneven groups, rows past the last group, transposed
 * weights read in place, float16), and dispatchRows / combineRows / slotDots with permutations,
 * dropped slots (−1) and gates.
 *
 * Tolerances: the products accumulate in f32 (the cpu in float64) over terms of size up to 4,
 * so results that cancel to near zero carry an absolute error growing with the depth: rtol 1e-5
 * plus atol 1e-6 per reduced term; float16 stores half precision.
 */
import { combineRows, dispatchRows, groupedMatmul, groupedOuter, slotDots } from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import {
  compare,
  gpu,
  type HostSpec,
  make,
  randomSpec,
  rng,
  shutdown,
  skipReason,
  suiteName,
  TOL,
} from './helpers.js';

afterAll(shutdown);

/** Tolerance of an f32 product reducing over `depth` terms. */
const product = (depth: number) => ({ rtol: 1e-5, atol: 1e-6 * Math.max(10, depth) });

/** Both variants of the grouped kernels (`band` where the adapter has subgroups). */
const VARIANTS = ['tiled', ...(gpu?.info.features.includes('subgroups') ? ['band'] : [])];

/** Runs `fn` with the grouped kernels' variant forced. */
async function withVariant(variant: string, fn: () => Promise<void>): Promise<void> {
  const before = process.env.KILN_GROUPED_VARIANT;
  process.env.KILN_GROUPED_VARIANT = variant;
  try {
    await fn();
  } finally {
    if (before === undefined) delete process.env.KILN_GROUPED_VARIANT;
    else process.env.KILN_GROUPED_VARIANT = before;
  }
}

/** Random group sizes summing to at most `rows` (some empty), as inclusive ends. */
function randomEnds(groups: number, rows: number, seed: number, fill = true): HostSpec {
  const r = rng(seed);
  const weights = Array.from({ length: groups }, () => (r() < 0.3 ? 0 : r()));
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const used = fill ? rows : Math.floor(rows * 0.8);
  let acc = 0;
  const ends = weights.map((w) => {
    acc += w;
    return Math.round((acc / total) * used);
  });
  return { data: ends, shape: [groups], dtype: 'int32' };
}

/** A random permutation of [0, n) split into [tokens, k] slots, with `dropped` of them −1. */
function randomSlots(tokens: number, k: number, rows: number, seed: number, dropped = 0): HostSpec {
  const r = rng(seed);
  const order = Array.from({ length: rows }, (_, i) => i);
  for (let i = rows - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const data = order.slice(0, tokens * k);
  for (let i = 0; i < dropped; i++) data[Math.floor(r() * data.length)] = -1;
  return { data, shape: [tokens, k], dtype: 'int32' };
}

describe.skipIf(!!skipReason)(suiteName('webgpu mixture-of-experts kernels vs cpu'), () => {
  for (const variant of VARIANTS) {
    it(`${'groupedMatmul: random sizes, empty and uneven groups, trailing rows, transposed weights'} (${variant})`, () =>
      withVariant(variant, async () => {
        const cases = [
          { R: 1, K: 3, M: 2, E: 1 },
          { R: 37, K: 19, M: 45, E: 5 },
          { R: 130, K: 64, M: 33, E: 8 },
          { R: 64, K: 17, M: 70, E: 3 },
          // several column tiles in both layouts
          { R: 90, K: 150, M: 260, E: 3 },
        ];
        for (const [i, { R, K, M, E }] of cases.entries()) {
          const x = randomSpec([R, K], 'float32', { seed: i + 1 });
          const w = randomSpec([E, K, M], 'float32', { seed: i + 11 });
          const wt = randomSpec([E, M, K], 'float32', { seed: i + 21 });
          for (const fill of [true, false]) {
            const ends = randomEnds(E, R, i * 7 + (fill ? 1 : 2), fill);
            await compare(
              (be) => [
                groupedMatmul(make(be, x), make(be, w), make(be, ends)),
                groupedMatmul(make(be, x), make(be, wt).permute([0, 2, 1]), make(be, ends)),
              ],
              product(K),
              `groupedMatmul R${R} K${K} M${M} E${E} fill ${fill}`,
            );
          }
        }
      }));
  }

  for (const variant of VARIANTS) {
    it(`${'groupedMatmul: every row in one group, all groups empty, float16'} (${variant})`, () =>
      withVariant(variant, async () => {
        const [R, K, M, E] = [40, 24, 36, 4];
        const x = randomSpec([R, K], 'float32', { seed: 3 });
        const w = randomSpec([E, K, M], 'float32', { seed: 4 });
        const one: HostSpec = { data: [0, 0, R, R], shape: [E], dtype: 'int32' };
        const none: HostSpec = { data: [0, 0, 0, 0], shape: [E], dtype: 'int32' };
        await compare(
          (be) => [one, none].map((e) => groupedMatmul(make(be, x), make(be, w), make(be, e))),
          product(K),
        );
        const xh = randomSpec([R, K], 'float16', { seed: 5 });
        const wh = randomSpec([E, K, M], 'float16', { seed: 6 });
        const ends = randomEnds(E, R, 9);
        await compare((be) => groupedMatmul(make(be, xh), make(be, wh), make(be, ends)), {
          rtol: 2e-3,
          atol: 2e-2,
        });
      }));
  }

  for (const variant of VARIANTS) {
    it(`${'groupedOuter: random sizes with empty groups and trailing rows'} (${variant})`, () =>
      withVariant(variant, async () => {
        const cases = [
          { R: 5, K: 3, M: 2, E: 2 },
          { R: 77, K: 40, M: 33, E: 6 },
          { R: 200, K: 16, M: 64, E: 8 },
          { R: 60, K: 150, M: 260, E: 2 },
        ];
        for (const [i, { R, K, M, E }] of cases.entries()) {
          const x = randomSpec([R, K], 'float32', { seed: i + 31 });
          const y = randomSpec([R, M], 'float32', { seed: i + 41 });
          for (const fill of [true, false]) {
            const ends = randomEnds(E, R, i * 5 + (fill ? 3 : 4), fill);
            await compare(
              (be) => groupedOuter(make(be, x), make(be, y), make(be, ends)),
              product(R),
              `groupedOuter R${R} K${K} M${M} E${E} fill ${fill}`,
            );
          }
        }
      }));
  }

  it('dispatchRows, combineRows, slotDots: permutations, dropped slots, gates', async () => {
    const cases = [
      { N: 1, k: 1, D: 3, R: 1, dropped: 0 },
      { N: 33, k: 2, D: 17, R: 66, dropped: 0 },
      { N: 50, k: 3, D: 40, R: 200, dropped: 9 },
    ];
    for (const [i, { N, k, D, R, dropped }] of cases.entries()) {
      const x = randomSpec([N, D], 'float32', { seed: i + 51 });
      const y = randomSpec([R, D], 'float32', { seed: i + 61 });
      const gates = randomSpec([N, k], 'float32', { seed: i + 71, low: 0, high: 1 });
      const slots = randomSlots(N, k, R, i + 81, dropped);
      await compare(
        (be) => {
          const [xs, ys, gs, ss] = [make(be, x), make(be, y), make(be, gates), make(be, slots)];
          return [
            dispatchRows(xs, ss, R),
            dispatchRows(xs, ss, R, gs),
            combineRows(ys, ss),
            combineRows(ys, ss, gs),
            slotDots(xs, ys, ss),
          ];
        },
        { rtol: 1e-5, atol: 1e-6 },
        `slot rows N${N} k${k} D${D} R${R}`,
      );
    }
    const xh = randomSpec([20, 8], 'float16', { seed: 91 });
    const yh = randomSpec([40, 8], 'float16', { seed: 92 });
    const gh = randomSpec([20, 2], 'float16', { seed: 93, low: 0, high: 1 });
    const sh = randomSlots(20, 2, 40, 94, 3);
    await compare(
      (be) => {
        const [xs, ys, gs, ss] = [make(be, xh), make(be, yh), make(be, gh), make(be, sh)];
        return [dispatchRows(xs, ss, 40, gs), combineRows(ys, ss, gs), slotDots(xs, ys, ss)];
      },
      TOL.half,
      'slot rows float16',
    );
  });
});
