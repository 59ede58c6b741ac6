/**
 * Fused row kernels, webgpu vs cpu: softmax/logSoftmax (last and non-last axes, rows past the
 * 256-wide workgroup threshold, ±inf and NaN rows), layerNorm/rmsNorm with and without
 * weight/bias (strided parameter views), crossEntropy with ignoreIndex and every reduction.
 *
 * Tolerances: rtol 1e-5 + atol 1e-6 (float32 exp/log against float64); norms rtol 1e-5 +
 * atol 1e-5 (the 1/sqrt amplifies the variance's rounding); float16 2e-3 + 1e-3.
 */
import { crossEntropy, layerNorm, logSoftmax, rmsNorm, softmax } from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import { compare, type HostSpec, make, randomSpec, shutdown, skipReason, suiteName, TOL } from './helpers.js';

afterAll(shutdown);

const NORM = { rtol: 1e-5, atol: 1e-5 };

describe.skipIf(!!skipReason)(suiteName('webgpu softmax/norm/cross-entropy vs cpu'), () => {
  it('softmax and logSoftmax over every axis and long rows', async () => {
    for (const shape of [[1], [7, 33], [3, 257], [2, 3, 5], [2, 5000]]) {
      const spec = randomSpec(shape, 'float32', { low: -8, high: 8 });
      for (let axis = 0; axis < shape.length; axis++) {
        await compare(
          (be) => softmax(make(be, spec), axis),
          TOL.elementwise,
          `softmax [${shape}] axis ${axis}`,
        );
        await compare(
          (be) => logSoftmax(make(be, spec), axis),
          TOL.elementwise,
          `logSoftmax [${shape}] axis ${axis}`,
        );
      }
    }
  });

  it('softmax rows with -inf, +inf and NaN follow the CPU', async () => {
    const ninf = Number.NEGATIVE_INFINITY;
    const spec: HostSpec = {
      data: Float32Array.from([
        ninf,
        1,
        2,
        ninf,
        ninf,
        ninf,
        1,
        Number.POSITIVE_INFINITY,
        0,
        1,
        Number.NaN,
        2,
      ]),
      shape: [4, 3],
      dtype: 'float32',
    };
    await compare((be) => [softmax(make(be, spec)), logSoftmax(make(be, spec))], TOL.elementwise);
  });

  it('softmax float16', async () => {
    const spec = randomSpec([7, 33], 'float16', { low: -4, high: 4 });
    await compare((be) => [softmax(make(be, spec)), logSoftmax(make(be, spec), 0)], TOL.half);
  });

  it('layerNorm with and without weight/bias, strided inputs and parameters', async () => {
    for (const shape of [
      [7, 33],
      [3, 257],
      [2, 5000],
      [1, 1],
    ]) {
      const d = shape[shape.length - 1];
      const x = randomSpec(shape, 'float32', { low: -3, high: 5 });
      const w = randomSpec([2 * d], 'float32', { seed: 1 });
      const b = randomSpec([d], 'float32', { seed: 2 });
      await compare((be) => layerNorm(make(be, x)), NORM, `layerNorm [${shape}]`);
      await compare(
        (be) => layerNorm(make(be, x), make(be, w).slice(0, 0, 2 * d, 2)),
        NORM,
        `layerNorm w [${shape}]`,
      );
      await compare(
        (be) => layerNorm(make(be, x), null, make(be, b), { eps: 1e-3 }),
        NORM,
        `layerNorm b [${shape}]`,
      );
      await compare(
        (be) => layerNorm(make(be, x), make(be, w).slice(0, d), make(be, b)),
        NORM,
        `layerNorm wb [${shape}]`,
      );
    }
    const t = randomSpec([33, 7]);
    await compare((be) => layerNorm(make(be, t).T), NORM, 'layerNorm transposed');
  });

  it('rmsNorm with and without weight, float16', async () => {
    for (const shape of [
      [7, 33],
      [3, 257],
      [2, 5000],
    ]) {
      const d = shape[shape.length - 1];
      const x = randomSpec(shape, 'float32');
      const w = randomSpec([d], 'float32', { seed: 3 });
      await compare((be) => rmsNorm(make(be, x)), NORM, `rmsNorm [${shape}]`);
      await compare((be) => rmsNorm(make(be, x), make(be, w), { eps: 1e-2 }), NORM, `rmsNorm w [${shape}]`);
    }
    const h = randomSpec([7, 33], 'float16');
    const hw = randomSpec([33], 'float16', { seed: 4 });
    await compare(
      (be) => [rmsNorm(make(be, h), make(be, hw)), layerNorm(make(be, h), make(be, hw), make(be, hw))],
      TOL.half,
    );
  });

  it('crossEntropy: ignoreIndex, reductions, 3-D logits, all ignored', async () => {
    const logits = randomSpec([7, 33], 'float32', { low: -5, high: 5 });
    const targets: HostSpec = { data: [0, 5, -100, 32, 7, -100, 1], shape: [7], dtype: 'int32' };
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await compare(
        (be) => crossEntropy(make(be, logits), make(be, targets), { reduction }),
        TOL.elementwise,
        reduction,
      );
    }
    const custom: HostSpec = { data: [3, 3, 1, 0, 3, 2, 3], shape: [7], dtype: 'int32' };
    await compare(
      (be) => crossEntropy(make(be, logits), make(be, custom), { ignoreIndex: 3 }),
      TOL.elementwise,
      'ignore 3',
    );
    const l3 = randomSpec([2, 3, 1100], 'float32', { low: -5, high: 5 });
    const t3: HostSpec = { data: [0, 1099, 5, 17, 400, 1000], shape: [2, 3], dtype: 'int32' };
    await compare(
      (be) => crossEntropy(make(be, l3), make(be, t3), { reduction: 'none' }),
      TOL.elementwise,
      '3-D',
    );
    const all: HostSpec = { data: [-100, -100], shape: [2], dtype: 'int32' };
    await compare(
      (be) => crossEntropy(make(be, randomSpec([2, 5])), make(be, all)),
      {},
      'all ignored: NaN mean',
    );
    const h = randomSpec([7, 33], 'float16');
    await compare(
      (be) => crossEntropy(make(be, h), make(be, targets), { reduction: 'none' }),
      TOL.half,
      'f16',
    );
  });
});
