/**
 * The fast elementwise paths, webgpu vs cpu: the vec4 kernel (contiguous operands, a broadcast
 * scalar, row vector or column), its strided tail (element counts that are not a multiple of 4), the
 * fallback for operands that start unaligned, fills that become `clearBuffer`, and copies that
 * become `copyBufferToBuffer` — including that such a copy stays ordered with the kernels
 * encoded before and after it.
 */

import type { Backend, DType, Tensor } from '@kiln/tensor';
import * as K from '@kiln/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { compare, gpu, make, randomSpec, shutdown, skipReason, suiteName, TOL } from './helpers.js';

afterAll(shutdown);

/** Sizes around the vec4 width, above and below the tail threshold, and a long odd one. */
const SIZES = [1, 3, 4, 7, 8, 1025, 4096 * 3 + 1];
/** Element offsets of the operands into their buffers: aligned (0, 4) and not (1, 3). */
const OFFSETS = [0, 1, 4];

/** A rank-1 view of `n` random elements starting `offset` elements into its own buffer. */
function at(be: Backend, n: number, offset: number, dtype: DType, seed: number): Tensor {
  const range = dtype === 'int32' ? { low: -1000, high: 1000 } : { low: -3, high: 3 };
  const base = make(be, randomSpec([n + offset], dtype, { ...range, seed }));
  return offset === 0 ? base : base.narrow(0, offset, n);
}

const tolFor = (dtype: DType) => (dtype === 'float16' ? TOL.half : TOL.exactish);

describe.skipIf(!!skipReason)(suiteName('webgpu vec4 elementwise vs cpu'), () => {
  it('binary add/mul and a comparison over sizes and offsets (float32, int32)', async () => {
    for (const dtype of ['float32', 'int32'] as const) {
      for (const n of SIZES) {
        for (const [oa, ob] of [
          [0, 0],
          [4, 0],
          [1, 0],
          [0, 3],
        ]) {
          const what = `${dtype} n=${n} offsets ${oa},${ob}`;
          await compare(
            (be) => {
              const a = at(be, n, oa, dtype, n + 1);
              const b = at(be, n, ob, dtype, n + 2);
              return [K.add(a, b), K.mul(a, b), K.lt(a, b)];
            },
            {},
            what,
          );
        }
      }
    }
  });

  it('unary gelu (tanh), neg, cast and logicalNot over sizes and offsets', async () => {
    for (const n of SIZES) {
      for (const off of OFFSETS) {
        await compare(
          (be) => {
            const x = at(be, n, off, 'float32', n + off);
            return [K.gelu(x, { approximate: 'tanh' }), K.neg(x), x.cast('int32'), K.logicalNot(K.floor(x))];
          },
          TOL.elementwise,
          `n=${n} offset ${off}`,
        );
      }
    }
  });

  it('float16: add, gelu and casts both ways, aligned and not', async () => {
    if (!gpu?.info.dtypes.includes('float16')) return;
    for (const n of [4, 7, 1025]) {
      for (const off of OFFSETS) {
        await compare(
          (be) => {
            const a = at(be, n, off, 'float16', n);
            const b = at(be, n, 0, 'float16', n + 5);
            const wide = at(be, n, off, 'float32', n + 9);
            return [K.add(a, b), K.gelu(a), a.cast('float32'), wide.cast('float16'), K.gt(a, b)];
          },
          tolFor('float16'),
          `float16 n=${n} offset ${off}`,
        );
      }
    }
  });

  it('broadcast scalars, row vectors and columns, where', async () => {
    for (const [rows, cols] of [
      [3, 8],
      [5, 6],
      [64, 36],
      [2, 4],
    ]) {
      await compare(
        (be) => {
          const x = make(be, randomSpec([rows, cols], 'float32', { seed: rows * cols }));
          const row = make(be, randomSpec([cols], 'float32', { seed: cols }));
          const cond = K.gt(x, 0);
          // columns: contiguous [rows,1], and every other element of a [rows,2] starting at 1
          const col = make(be, randomSpec([rows, 1], 'float32', { seed: rows }));
          const pairs = make(be, randomSpec([rows, 2], 'float32', { seed: rows + 1 }));
          return [
            K.sub(x, col),
            K.div(pairs.narrow(1, 1, 1), x),
            K.where(cond, col, row),
            K.add(x, 2.5),
            K.mul(x, row),
            K.sub(row, x),
            K.where(cond, x, row),
            K.where(cond, x, 0),
            K.maximum(x.narrow(1, 0, cols - 4 > 0 ? 4 : cols), 0),
          ];
        },
        TOL.exactish,
        `[${rows},${cols}]`,
      );
    }
    // int32 row broadcast into a bool output
    await compare(
      (be) => {
        const x = make(be, randomSpec([16, 12], 'int32', { seed: 3 }));
        const row = make(be, randomSpec([12], 'int32', { seed: 4 }));
        return [K.ge(x, row), K.add(row, x)];
      },
      {},
      'int32 row',
    );
  });

  it('fill: zeros (cleared) and other values, without touching neighbours', async () => {
    for (const dtype of ['float32', 'float16', 'int32', 'bool'] as const) {
      if (!gpu?.info.dtypes.includes(dtype)) continue;
      for (const n of [1, 3, 4, 7, 1025]) {
        for (const [start, value] of [
          [0, 0],
          [1, 0],
          [2, 0],
          [0, 1],
          [3, -0],
        ]) {
          await compare(
            (be) => {
              const t = make(be, randomSpec([n + 6], dtype, { seed: n, low: 1, high: 5 }));
              t.narrow(0, start, n).assign(value);
              const filled = K.full([n], value, { backend: be, dtype });
              return [t, filled];
            },
            {},
            `${dtype} n=${n} start ${start} value ${value}`,
          );
        }
      }
    }
  });

  it('copies: aligned (buffer copy), unaligned, casting, within one storage', async () => {
    for (const dtype of ['float32', 'float16', 'int32'] as const) {
      if (!gpu?.info.dtypes.includes(dtype)) continue;
      for (const n of [1, 3, 4, 1025]) {
        for (const [os, od] of [
          [0, 0],
          [1, 3],
          [2, 0],
          [4, 2],
        ]) {
          await compare(
            (be) => {
              const src = at(be, n, os, dtype, n + 11);
              const dst = make(be, randomSpec([n + 8], dtype, { seed: n }));
              dst.narrow(0, od, n).assign(src);
              // contiguous() of an offset slice is a plain copy too
              return [dst, src.contiguous(), src.cast(dtype === 'float32' ? 'int32' : 'float32')];
            },
            tolFor(dtype),
            `${dtype} n=${n} offsets ${os}→${od}`,
          );
        }
      }
    }
    // source and destination in one storage (copyBufferToBuffer may not copy a buffer onto itself)
    await compare((be) => {
      const t = make(be, randomSpec([64], 'float32', { seed: 5 }));
      t.narrow(0, 0, 32).assign(t.narrow(0, 16, 32));
      t.narrow(0, 40, 20).assign(t.narrow(0, 41, 20));
      return [t];
    }, {});
  });

  it('a buffer copy is ordered with the kernels before and after it', async () => {
    if (!gpu) return;
    const n = 4096;
    const host = randomSpec([n], 'float32', { seed: 77 });
    const x = make(gpu, host);
    const src = K.mul(x, 2); // kernel writes the source
    const dst = K.zeros([n], { backend: gpu }); // cleared
    dst.assign(src); // buffer copy: must see mul's result
    src.assign(K.add(x, 100)); // overwrite the source: must not reach dst
    const after = K.add(dst, 1); // kernel reads the copy
    const [d, s, a] = await Promise.all([dst.data(), src.data(), after.data()]);
    const xs = host.data as Float32Array;
    for (let i = 0; i < n; i += 97) {
      expect(d[i]).toBe(Math.fround(xs[i] * 2));
      expect(s[i]).toBe(Math.fround(xs[i] + 100));
      expect(a[i]).toBe(Math.fround(Math.fround(xs[i] * 2) + 1));
    }
    for (const t of [x, src, dst, after]) t.dispose();
  });
});
