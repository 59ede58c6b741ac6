/**
 * The subgroup variants of the row kernels (kernels/rows.ts): which variant a launch picks
 * (pure, no adapter needed), and webgpu against cpu for every row kernel on row lengths around
 * the lane count and the vec4 width (1, 3, 7, 8, 33, 257, 1024, 4097), rows starting off a
 * 4-element boundary (sliced views), float16, ignored cross-entropy rows and ±inf/NaN rows. On
 * an adapter without subgroups these comparisons exercise the workgroup-memory kernels instead.
 *
 * Tolerances as nn.test.ts / fused.test.ts: rtol 1e-5 + atol 1e-5 for f32 row kernels (f32 exp
 * against float64), 1e-4 for the norm backward, float16 2e-3 + 1e-3.
 */

import type { Backend } from '@kiln/tensor';
import { crossEntropy, layerNorm, logSoftmax, rmsNorm, softmax, type Tensor } from '@kiln/tensor';
import {
  crossEntropyBackward,
  layerNormBackward,
  rmsNormBackward,
  softmaxBackward,
} from '@kiln/tensor/internal';
import { afterAll, describe, expect, it } from 'vitest';
import type { View } from '../../src/backend.js';
import { adamwUpdateLaunch } from '../../src/backends/webgpu/kernels/adamw-update.js';
import { reduceLaunch } from '../../src/backends/webgpu/kernels/reduce.js';
import { rowLanes } from '../../src/backends/webgpu/kernels/rows.js';
import { softmaxLaunch } from '../../src/backends/webgpu/kernels/softmax.js';
import {
  compare,
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

const ROW = { rtol: 1e-5, atol: 1e-5 };
const LENGTHS = [1, 3, 7, 8, 33, 257, 1024, 4097];

/** A view description for the launch builders (no storage is touched). */
function view(shape: number[], offset = 0, dtype: View['dtype'] = 'float32'): View {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { storage: null, dtype, shape, strides, offset } as unknown as View;
}

/**
 * `rows` random rows of `n` starting `shift` elements into a flat buffer: a contiguous view
 * whose offset is `shift` (so not 4-aligned when shift is odd).
 */
function shifted(
  be: Backend,
  rows: number,
  n: number,
  shift: number,
  seed: number,
  low = -4,
  high = 4,
): Tensor {
  const spec = randomSpec([rows * n + shift], 'float32', { seed, low, high });
  return make(be, spec)
    .slice(0, shift, shift + rows * n)
    .reshape([rows, n]);
}

describe('row kernel variant selection', () => {
  it('takes one subgroup per row only with a known smallest subgroup size', () => {
    const on = process.env.KILN_ROW_SUBGROUPS !== '0'; // =0 turns the variants off (A/B runs)
    expect(rowLanes(true, 8)).toBe(on ? 8 : 0);
    expect(rowLanes(true, 32)).toBe(on ? 32 : 0);
    expect(rowLanes(false, 8)).toBe(0);
    expect(rowLanes(true, 0)).toBe(0); // the adapter did not say
    expect(rowLanes(true, 24)).toBe(0);
  });

  it('reads rows as vec4 only when lengths and offsets are 4-aligned', () => {
    const key = (n: number, offset: number, lanes: number) =>
      softmaxLaunch(view([5, n], offset), view([5, n]), false, 65535, lanes).kernel.key;
    expect(key(1024, 0, 8)).toBe('softmax:float32:sg8v4');
    expect(key(1024, 1, 8)).toBe('softmax:float32:sg8v1');
    expect(key(33, 0, 8)).toBe('softmax:float32:sg8v1');
    expect(key(1024, 0, 0)).toBe('softmax:float32:64'); // no subgroups: the workgroup-memory kernel
    const sum = (n: number, lanes: number) =>
      reduceLaunch('sum', view([3, n]), 1, view([3]), 65535, lanes).kernel.key;
    expect(sum(1024, 8)).toContain(':sg8v4');
    expect(sum(1024, 0)).not.toContain(':sg');
    expect(sum(16, 8)).toContain(':serial'); // short rows stay one invocation per row
    expect(reduceLaunch('argmax', view([3, 1024]), 1, view([3], 0, 'int32'), 65535, 8).kernel.key).toContain(
      ':sg8v1',
    );
  });

  it('updates AdamW four elements at a time only when every operand is 4-aligned', () => {
    const s = {
      beta1: 0.9,
      oneMinusBeta1: 0.1,
      beta2: 0.99,
      oneMinusBeta2: 0.01,
      decay: 1,
      stepSize: 1,
      sqrtC2: 1,
      eps: 1e-8,
    };
    const key = (n: number, offset: number) => {
      const [p, g, m, v] = [view([n], offset), view([n]), view([n]), view([n])];
      return adamwUpdateLaunch(p, g, m, v, s, 65535).kernel.key;
    };
    expect(key(1024, 0)).toBe('adamw:float32:v4');
    expect(key(1024, 2)).toBe('adamw:float32');
    expect(key(1023, 0)).toBe('adamw:float32');
  });
});

describe.skipIf(!!skipReason)(suiteName('webgpu row kernels (subgroup variants) vs cpu'), () => {
  it('softmax and logSoftmax forward and backward, aligned and shifted rows', async () => {
    for (const n of LENGTHS) {
      const rows = n > 1000 ? 3 : 5;
      for (const shift of [0, 1]) {
        const what = `[${rows}, ${n}] shift ${shift}`;
        await compare(
          (be) => [softmax(shifted(be, rows, n, shift, n)), logSoftmax(shifted(be, rows, n, shift, n))],
          ROW,
          `softmax ${what}`,
        );
        await compare(
          (be) => {
            const y = softmax(shifted(be, rows, n, shift, n));
            const g = shifted(be, rows, n, shift, n + 1);
            return [
              softmaxBackward(y, g),
              softmaxBackward(logSoftmax(shifted(be, rows, n, shift, n)), g, -1, true),
            ];
          },
          ROW,
          `softmax backward ${what}`,
        );
      }
    }
  });

  it('layerNorm and rmsNorm forward and backward, strided and shifted parameters', async () => {
    for (const n of LENGTHS) {
      const rows = n > 1000 ? 3 : 5;
      for (const shift of [0, 1]) {
        const what = `[${rows}, ${n}] shift ${shift}`;
        const forward = (be: Backend) => {
          const x = shifted(be, rows, n, shift, n);
          const w = shifted(be, 1, n, shift, 2 * n, 0.5, 1.5).reshape([n]);
          const b = make(be, randomSpec([2 * n], 'float32', { seed: 3 * n })).slice(0, 0, 2 * n, 2);
          return [layerNorm(x, w, b), layerNorm(x), rmsNorm(x, w), rmsNorm(x)];
        };
        await compare(forward, ROW, `norm ${what}`);
        const backward = (be: Backend) => {
          const x = shifted(be, rows, n, shift, n);
          const g = shifted(be, rows, n, shift, n + 1);
          const w = shifted(be, 1, n, shift, 2 * n, 0.5, 1.5).reshape([n]);
          const [dx, dw, db] = layerNormBackward(x, w, g, { eps: 1e-5, bias: true });
          const [dx2] = layerNormBackward(x, null, g, { eps: 1e-5 });
          const [dx3, dw3] = rmsNormBackward(x, w, g, { eps: 1e-5 });
          return [dx, dw!, db!, dx2, dx3, dw3!];
        };
        await compare(backward, { rtol: 1e-4, atol: 1e-5 }, `norm backward ${what}`);
      }
    }
  });

  it('crossEntropy forward and backward with ignored rows', async () => {
    for (const C of LENGTHS) {
      const rows = 6;
      const r = rng(C);
      const t = {
        data: Array.from({ length: rows }, (_, i) => (i === 2 ? -100 : Math.floor(r() * C))),
        shape: [rows],
        dtype: 'int32' as const,
      };
      for (const shift of [0, 1]) {
        const what = `[${rows}, ${C}] shift ${shift}`;
        await compare(
          (be) => {
            const logits = shifted(be, rows, C, shift, C, -6, 6);
            return [
              crossEntropy(logits, make(be, t), { reduction: 'none' }),
              crossEntropy(logits, make(be, t)),
            ];
          },
          ROW,
          `crossEntropy ${what}`,
        );
        const g = randomSpec([rows], 'float32', { low: 0.5, high: 2 });
        await compare(
          (be) =>
            crossEntropyBackward(shifted(be, rows, C, shift, C, -6, 6), make(be, t), make(be, g), {
              reduction: 'none',
            }),
          ROW,
          `crossEntropy backward ${what}`,
        );
      }
    }
  });

  it('last-axis reductions over long rows, aligned and shifted', async () => {
    for (const n of [17, 33, 257, 1024, 4097]) {
      for (const shift of [0, 1]) {
        await compare(
          (be) => {
            const x = shifted(be, 3, n, shift, n);
            return [x.sum(-1), x.mean(-1), x.max(-1), x.min(-1), x.argmax(-1), x.argmin(-1)];
          },
          ROW,
          `reduce [3, ${n}] shift ${shift}`,
        );
      }
    }
    const ints: HostSpec = { ...randomSpec([4, 300], 'int32'), shape: [4, 300] };
    await compare(
      (be) => [make(be, ints).sum(-1), make(be, ints).max(-1), make(be, ints).argmin(-1)],
      {},
      'int32',
    );
  });

  it('±inf and NaN rows, and max over signed zeros, follow the CPU', async () => {
    const n = 16;
    const row = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
    const inf = Number.POSITIVE_INFINITY;
    const data = [
      ...row((i) => (i === 5 ? inf : i)),
      ...row(() => -inf),
      ...row((i) => (i === 9 ? Number.NaN : i)),
      ...row((i) => (i % 2 ? -0 : 0)),
      ...row((i) => i - 8),
    ];
    const spec: HostSpec = { data: Float32Array.from(data), shape: [5, n], dtype: 'float32' };
    const t = { data: [5, 0, 1, 2, 3], shape: [5], dtype: 'int32' as const };
    await compare(
      (be) => {
        const x = make(be, spec);
        return [
          softmax(x),
          logSoftmax(x),
          x.max(-1),
          x.min(-1),
          x.argmax(-1),
          crossEntropy(x, make(be, t), { reduction: 'none' }),
        ];
      },
      ROW,
      'special rows',
    );
    // max keeps +0 over -0 and min keeps -0 (the CPU scan agrees when the first element is that zero)
    const zeros = (first: number): HostSpec => ({
      data: Float32Array.from({ length: 64 }, (_, i) => (i % 2 ? -first : first)),
      shape: [1, 64],
      dtype: 'float32',
    });
    await compare(
      (be) => [make(be, zeros(0)).max(-1).reciprocal(), make(be, zeros(-0)).min(-1).reciprocal()],
      {},
      'signed zeros',
    );
  });

  it('float16 rows', async () => {
    for (const n of [7, 8, 257, 1024]) {
      const spec = randomSpec([3, n], 'float16', { low: -4, high: 4 });
      const w = randomSpec([n], 'float16', { low: 0.5, high: 1.5, seed: 9 });
      await compare(
        (be) => {
          const x = make(be, spec);
          return [
            softmax(x),
            logSoftmax(x),
            layerNorm(x, make(be, w), make(be, w)),
            rmsNorm(x, make(be, w)),
            x.sum(-1),
            x.max(-1),
          ];
        },
        TOL.half,
        `float16 [3, ${n}]`,
      );
    }
  });
});
