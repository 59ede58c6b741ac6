/**
 * Property tests (fast-check) of the rules kernels rely on, across backends: for random
 * broadcast-compatible shapes and random views (permutations, stepped slices, expansions),
 * webgpu gives the cpu's shape and values. Shapes stay small so the run is cheap; pipelines are
 * keyed by rank, so random shapes reuse a handful of kernels.
 */

import { add, maximum, mul, sub, sum, type Tensor, where } from '@kiln/tensor';
import * as fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { compare, make, randomSpec, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);

const dim = fc.constantFrom(1, 2, 3, 5);
const shape = fc.array(dim, { minLength: 0, maxLength: 4 });

/** Two shapes that broadcast: the second takes each trailing dim of the first, or 1. */
const broadcastPair = shape.chain((a) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }),
      fc.integer({ min: 0, max: a.length }),
      fc.boolean(),
    )
    .map(([ones, drop, swap]) => {
      const b = a.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
      return swap ? ([b, a] as const) : ([a, b] as const);
    }),
);

const OPS: ((a: Tensor, b: Tensor) => Tensor)[] = [add, sub, mul, maximum];

describe.skipIf(!!skipReason)(suiteName('webgpu broadcasting and views (property tests)'), () => {
  it('binary ops broadcast like the cpu', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, fc.nat(OPS.length - 1), fc.nat(), async ([sa, sb], k, seed) => {
        const a = randomSpec([...sa], 'float32', { seed });
        const b = randomSpec([...sb], 'float32', { seed: seed + 1 });
        await compare((be) => OPS[k](make(be, a), make(be, b)));
      }),
      { numRuns: 40 },
    );
  });

  it('where broadcasts three operands like the cpu', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, fc.nat(), async ([sa, sb], seed) => {
        const c = randomSpec([...sb], 'bool', { seed });
        const a = randomSpec([...sa], 'int32', { seed: seed + 1 });
        const b = randomSpec([...sb].slice(1), 'int32', { seed: seed + 2 });
        await compare((be) => where(make(be, c), make(be, a), make(be, b)));
      }),
      { numRuns: 25 },
    );
  });

  it('reductions of random permuted, sliced and expanded views match the cpu', async () => {
    const viewCase = fc.array(fc.constantFrom(1, 2, 3, 4, 6), { minLength: 1, maxLength: 4 }).chain((s) =>
      fc.record({
        shape: fc.constant(s),
        perm: fc.shuffledSubarray(
          s.map((_, i) => i),
          { minLength: s.length, maxLength: s.length },
        ),
        step: fc.integer({ min: 1, max: 2 }),
        expand: fc.integer({ min: 1, max: 3 }),
        axes: fc.subarray(s.map((_, i) => i)),
        keepDim: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(viewCase, async ({ shape: s, perm, step, expand, axes, keepDim }) => {
        const x = randomSpec(s, 'float32', { seed: s.length * 17 + step });
        await compare(
          (be) => {
            let v = make(be, x).permute(perm);
            v = v.slice(0, 0, v.shape[0], step);
            v = v.unsqueeze(0).expand([expand, ...v.shape]);
            return [sum(v, axes.length > 0 ? axes.map((a) => a + 1) : undefined, keepDim), v.contiguous()];
          },
          { rtol: 1e-5, atol: 1e-5 },
        );
      }),
      { numRuns: 40 },
    );
  });
});
