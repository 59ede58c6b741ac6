/**
 * Reductions, webgpu vs cpu: sum/mean/max/min/prod/argmax/argmin over one, several and all
 * axes, keepDim, strided inputs, every dtype each accepts; var, logsumexp and cumsum.
 *
 * Tolerances: the GPU sums in float32 (tree order), the CPU in float64, so float sums get
 * atol = 1e-6·R (R reduced elements of magnitude ≤ 2) plus rtol 1e-5; mean the same divided
 * by R; prod rtol 1e-5·R; max/min/argmax/argmin and every integer result are exact.
 */

import type { DType, ReduceOp, Tensor } from '@kiln/tensor';
import * as K from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import {
  compare,
  type HostSpec,
  make,
  randomSpec,
  shutdown,
  skipReason,
  suiteName,
  TOL,
  type Tolerance,
} from './helpers.js';

afterAll(shutdown);

type Axes = number | number[] | undefined;

const REDUCTIONS = { sum: K.sum, mean: K.mean, max: K.max, min: K.min, prod: K.prod };

function reduceOp(op: ReduceOp, x: Tensor, axes: Axes, keepDim: boolean): Tensor {
  if (op === 'argmax' || op === 'argmin') {
    const single = Array.isArray(axes) ? undefined : axes;
    return op === 'argmax' ? K.argmax(x, single, keepDim) : K.argmin(x, single, keepDim);
  }
  return REDUCTIONS[op](x, axes, keepDim);
}

function tolerance(op: ReduceOp, reduced: number, dtype: DType): Tolerance {
  if (dtype === 'float16') return { rtol: 4e-3, atol: 2e-3 * Math.sqrt(reduced) };
  if (op === 'sum') return { rtol: 1e-5, atol: 1e-6 * reduced };
  if (op === 'mean') return { rtol: 1e-5, atol: 1e-6 };
  if (op === 'prod') return { rtol: 1e-5 * reduced, atol: 0 };
  return {};
}

function input(op: ReduceOp, shape: number[], dtype: DType): HostSpec {
  if (op === 'prod') {
    if (dtype === 'int32' || dtype === 'uint32')
      return randomSpec(shape, dtype, { low: dtype === 'int32' ? -3 : 0, high: 4 });
    return randomSpec(shape, dtype, { low: 0.7, high: 1.3 });
  }
  if ((op === 'argmax' || op === 'argmin') && dtype !== 'bool') {
    // few distinct values, so ties decide (first occurrence wins)
    const spec = randomSpec(shape, 'int32', { low: -4, high: 4 });
    return dtype === 'int32'
      ? spec
      : { ...spec, dtype, data: Float32Array.from(spec.data, (v) => (dtype === 'uint32' ? v + 4 : v)) };
  }
  return randomSpec(shape, dtype);
}

/** Every case for float32; the dtype-independent paths (strided rows, 256-wide rows) once. */
const CASES: [number[], Axes][] = [
  [[1], undefined],
  [[1000], undefined],
  [[7, 33], 0],
  [[7, 33], 1],
  [[3, 257], -1],
  [
    [2, 3, 5, 7],
    [0, 2],
  ],
  [
    [2, 3, 5, 7],
    [1, 3],
  ],
  [[2, 3, 5, 7], undefined],
  [[2, 5000], 1],
];
const SHORT_CASES: [number[], Axes][] = [
  [[1000], undefined],
  [[7, 33], 0],
  [[3, 257], -1],
  [
    [2, 3, 5, 7],
    [1, 3],
  ],
];

const OPS: ReduceOp[] = ['sum', 'mean', 'max', 'min', 'prod', 'argmax', 'argmin'];
const DTYPES: Record<ReduceOp, DType[]> = {
  sum: ['float32', 'float16', 'int32', 'uint32'],
  mean: ['float32', 'float16'],
  max: ['float32', 'float16', 'int32', 'uint32', 'bool'],
  min: ['float32', 'float16', 'int32', 'uint32', 'bool'],
  prod: ['float32', 'int32', 'uint32'],
  argmax: ['float32', 'float16', 'int32', 'uint32', 'bool'],
  argmin: ['float32', 'float16', 'int32', 'uint32', 'bool'],
};

describe.skipIf(!!skipReason)(suiteName('webgpu reductions vs cpu'), () => {
  for (const op of OPS) {
    for (const dtype of DTYPES[op]) {
      it(`${op} ${dtype}: axes, keepDim, strided input`, async () => {
        for (const [shape, axes] of dtype === 'float32' ? CASES : SHORT_CASES) {
          if ((op === 'argmax' || op === 'argmin') && Array.isArray(axes)) continue;
          const spec = input(op, shape, dtype);
          const list = axes === undefined ? shape.map((_, i) => i) : ([] as number[]).concat(axes);
          const reduced = list.reduce((n, a) => n * shape[(a + shape.length) % shape.length], 1);
          const tol = tolerance(op, reduced, dtype);
          for (const keepDim of [false, true]) {
            await compare(
              (be) => reduceOp(op, make(be, spec), axes, keepDim),
              tol,
              `${op} [${shape}] axes ${axes} keepDim ${keepDim}`,
            );
          }
          if (shape.length >= 2 && dtype === 'float32') {
            // a transposed view: the reduced axes are no longer the contiguous ones
            await compare(
              (be) => reduceOp(op, make(be, spec).transpose(0, -1), axes, false),
              tol,
              `${op} transposed [${shape}] ${axes}`,
            );
          }
        }
      });
    }
  }

  it('max/min propagate NaN; argmax/argmin follow the CPU scan (NaN first wins, later NaN ignored)', async () => {
    const nan = Number.NaN;
    const spec: HostSpec = {
      data: Float32Array.from([nan, 1, 2, 3, 1, nan, 5, 2, 4, 4, 0, -1, -3, 2, nan, -3]),
      shape: [4, 4],
      dtype: 'float32',
    };
    await compare((be) => [
      K.max(make(be, spec), 1),
      K.min(make(be, spec), 1),
      K.argmax(make(be, spec), 1),
      K.argmin(make(be, spec), 1),
    ]);
    const wide = randomSpec([3, 300]);
    (wide.data as Float32Array)[310] = nan;
    await compare((be) => [
      K.max(make(be, wide), 1),
      K.argmax(make(be, wide), 1),
      K.argmin(make(be, wide), 1),
    ]);
  });

  it('sum over an empty axis is 0 and prod is 1', async () => {
    await compare((be) => [
      K.sum(K.zeros([3, 0], { backend: be }), 1),
      K.prod(K.ones([3, 0], { backend: be }), 1),
    ]);
  });

  it('var with corrections and keepDim; logsumexp with -inf rows', async () => {
    const spec = randomSpec([7, 33]);
    await compare((be) => make(be, spec).var(1), { rtol: 1e-5, atol: 1e-6 });
    await compare((be) => make(be, spec).var([0, 1], { correction: 0, keepDim: true }), {
      rtol: 1e-5,
      atol: 1e-6,
    });
    await compare((be) => make(be, spec).T.var(0), { rtol: 1e-5, atol: 1e-6 });
    await compare((be) => make(be, spec).logsumexp(1), { rtol: 1e-6, atol: 1e-6 });
    await compare((be) => make(be, spec).logsumexp([0, 1], true), { rtol: 1e-6, atol: 1e-6 });
    const inf: HostSpec = {
      data: Float32Array.from([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, 2]),
      shape: [2, 2],
      dtype: 'float32',
    };
    await compare((be) => make(be, inf).logsumexp(1), TOL.elementwise);
  });

  it('cumsum along every axis, strided, all numeric dtypes', async () => {
    for (const dtype of ['float32', 'float16', 'int32', 'uint32'] as const) {
      for (const shape of [[1], [1000], [7, 33], [3, 257], [2, 3, 5]]) {
        const spec = randomSpec(shape, dtype, dtype === 'int32' ? { low: -(2 ** 30), high: 2 ** 30 } : {});
        const n = Math.max(...shape);
        const tol =
          dtype === 'float16' ? { rtol: 4e-3, atol: 2e-3 * Math.sqrt(n) } : { rtol: 1e-5, atol: 1e-6 * n };
        for (let axis = 0; axis < shape.length; axis++) {
          await compare((be) => make(be, spec).cumsum(axis), tol, `cumsum ${dtype} [${shape}] axis ${axis}`);
        }
        if (shape.length >= 2)
          await compare((be) => make(be, spec).T.cumsum(-1), tol, `cumsum ${dtype} transposed`);
      }
    }
  });
});
