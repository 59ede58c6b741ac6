/**
 * Views, joins, casts and in-place assignment, webgpu vs cpu. These are copies, fills and
 * casts, so everything is exact (casts follow the CPU's rules: float→int truncates and
 * saturates, NaN→0; anything→bool is "non-zero and not NaN").
 */
import {
  arange,
  cast,
  chunk,
  concat,
  type DType,
  eye,
  full,
  fullLike,
  linspace,
  ones,
  onesLike,
  pad,
  split,
  stack,
  type Tensor,
  tensor,
  tril,
  triu,
  zeros,
  zerosLike,
} from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import { compare, type HostSpec, make, randomSpec, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);

const DTYPES: DType[] = ['float32', 'float16', 'int32', 'uint32', 'bool'];

describe.skipIf(!!skipReason)(suiteName('webgpu views, joins, casts vs cpu'), () => {
  it('creation functions on every dtype', async () => {
    for (const dtype of DTYPES) {
      await compare(
        (backend) => [
          zeros([3, 5], { backend, dtype }),
          ones([7], { backend, dtype }),
          full([2, 3], dtype === 'bool' ? 1 : 7, { backend, dtype }),
          full([257], dtype === 'int32' ? -3 : 3, { backend, dtype, usage: 'parameter' }),
          tensor([[1, 0, 2]], { backend, dtype }),
          eye(3, 4, { backend, dtype }),
          zerosLike(ones([2, 2], { backend, dtype })),
          onesLike(zeros([1], { backend, dtype })),
          fullLike(zeros([2], { backend, dtype }), 1),
        ],
        {},
        dtype,
      );
    }
    await compare((backend) => [
      arange(7, undefined, 1, { backend }),
      arange(-1.5, 2, 0.25, { backend }),
      arange(10, 0, -3, { backend }),
      linspace(-1, 1, 33, { backend }),
      linspace(0, 1, 5, { backend, dtype: 'float16' }),
      full([3], Number.NaN, { backend }),
      full([3], 1 / 3, { backend, dtype: 'float16' }),
      full([2], Number.NEGATIVE_INFINITY, { backend }),
    ]);
  });

  it('contiguous copies of transposed, stepped, expanded and permuted views', async () => {
    const x = randomSpec([4, 5, 6]);
    await compare((be) => [
      make(be, x).transpose(0, 2).contiguous(),
      make(be, x).slice(1, 1, 5, 2).slice(2, 0, 6, 3).contiguous(),
      make(be, x).slice(0, 1, 2).expand([3, 5, 6]).contiguous(),
      make(be, x).permute([1, 2, 0]).reshape([30, 4]),
      make(be, x).T.flatten(),
      make(be, x).slice(2, 5).squeeze(2).unsqueeze(0).contiguous(),
    ]);
    // eight dimensions that cannot be merged (the looping walk variant)
    const big = randomSpec([2, 3, 2, 3, 2, 3, 2, 3]);
    await compare((be) => make(be, big).permute([7, 6, 5, 4, 3, 2, 1, 0]).contiguous());
  });

  it('cast between every pair of dtypes, special values included', async () => {
    const values = [
      0,
      -0,
      1,
      -1,
      2.5,
      -2.5,
      0.49,
      -0.99,
      1e10,
      -1e10,
      3e9,
      65519,
      70000,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      123456789,
      7,
    ];
    const f: HostSpec = { data: Float32Array.from(values), shape: [values.length], dtype: 'float32' };
    const ints: Record<string, HostSpec> = {
      int32: {
        data: [0, 1, -1, -2147483648, 2147483647, 65519, 70000, 16777217, -5],
        shape: [9],
        dtype: 'int32',
      },
      uint32: {
        data: [0, 1, 4294967295, 2147483648, 65519, 70000, 16777217, 5, 3],
        shape: [9],
        dtype: 'uint32',
      },
      bool: { data: [0, 1, 1, 0, 1, 0, 0, 1, 1], shape: [9], dtype: 'bool' },
      float16: {
        data: Float32Array.from([0, -0, 1.5, -2.5, 65504, -65504, 0.1, Number.NaN, Number.POSITIVE_INFINITY]),
        shape: [9],
        dtype: 'float16',
      },
    };
    for (const to of DTYPES) {
      await compare((be) => cast(make(be, f), to), {}, `float32 -> ${to}`);
      for (const [from, spec] of Object.entries(ints)) {
        await compare((be) => cast(make(be, spec), to), {}, `${from} -> ${to}`);
      }
    }
    const m = randomSpec([7, 33], 'float32', { low: -100, high: 100 });
    await compare(
      (be) => [cast(make(be, m).T, 'int32'), cast(make(be, m).T, 'float16')],
      {},
      'strided casts',
    );
  });

  it('concat, stack, split, chunk on every dtype', async () => {
    for (const dtype of DTYPES) {
      const a = randomSpec([3, 5], dtype, { seed: 1 });
      const b = randomSpec([3, 2], dtype, { seed: 2 });
      const c = randomSpec([5, 3], dtype, { seed: 3 });
      await compare((be) => [
        concat([make(be, a), make(be, b), make(be, c).T], 1),
        concat([make(be, a), make(be, c).T], 0),
        stack([make(be, a), make(be, c).T], 1),
        ...split(make(be, c), [1, 3, 1], 0).map((t) => t.contiguous()),
        ...chunk(make(be, a), 2, 1).map((t: Tensor) => t.contiguous()),
      ]);
    }
  });

  it('pad, tril and triu', async () => {
    const x = randomSpec([3, 7, 6]);
    await compare((be) => [
      pad(make(be, x), [[1, 2]], -1),
      pad(
        make(be, x).T,
        [
          [0, 1],
          [2, 0],
          [1, 1],
        ],
        0.5,
      ),
    ]);
    const i = randomSpec([7, 6], 'int32');
    await compare((be) => [
      pad(make(be, i), [[1, 1]], 9),
      tril(make(be, x)),
      triu(make(be, x), 1),
      tril(make(be, i), -2),
      triu(make(be, x).T, -1),
    ]);
  });

  it('assign: broadcast, cast, strided destination windows, same-storage source', async () => {
    const x = randomSpec([6, 7]);
    const row = randomSpec([7], 'float32', { seed: 5 });
    const ints = randomSpec([3, 7], 'int32', { seed: 6 });
    await compare((be) => {
      const t = make(be, x);
      t.slice(0, 0, 6, 2).assign(make(be, row));
      t.slice(1, 3, 5).assign(2.5);
      t.slice(0, 3, 6).assign(make(be, ints));
      // source and destination share a storage (disjoint windows): goes through a temporary
      t.slice(0, 1, 2).assign(t.slice(0, 4, 5));
      return t;
    });
  });
});
