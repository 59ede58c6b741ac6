/**
 * matmul, webgpu vs cpu: awkward sizes around the 32/64 tiles, batch broadcasting (batch
 * stride 0), transposed and stepped operands read in place, 1-D operands, float16.
 *
 * Tolerance: the GPU accumulates K products in float32 (the CPU in float64), so
 * atol = 2e-5·sqrt(K) for inputs in [-2, 2] plus rtol 1e-5; float16 outputs 2e-3 relative
 * and 2e-3·sqrt(K) absolute.
 */
import { matmul } from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import { compare, make, randomSpec, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);

const tol = (k: number) => ({ rtol: 1e-5, atol: 2e-5 * Math.sqrt(k) });
const halfTol = (k: number) => ({ rtol: 2e-3, atol: 2e-3 * Math.sqrt(k) });

describe.skipIf(!!skipReason)(suiteName('webgpu matmul vs cpu'), () => {
  it('2-D products of awkward sizes (both tile sizes, edges)', async () => {
    for (const [m, k, n] of [
      [1, 1, 1],
      [3, 7, 33],
      [33, 257, 7],
      [64, 64, 64],
      [65, 130, 67],
      [1, 1000, 3],
      [100, 33, 129],
    ]) {
      const a = randomSpec([m, k], 'float32', { seed: m + k });
      const b = randomSpec([k, n], 'float32', { seed: k + n + 1 });
      await compare((be) => matmul(make(be, a), make(be, b)), tol(k), `[${m},${k}]@[${k},${n}]`);
    }
  });

  it('transposed and stepped operands are read in place', async () => {
    const a = randomSpec([40, 70], 'float32', { seed: 1 });
    const b = randomSpec([33, 40], 'float32', { seed: 2 });
    const c = randomSpec([70, 66], 'float32', { seed: 3 });
    await compare((be) => matmul(make(be, a).T, make(be, b).T), tol(40), 'aT @ bT');
    await compare((be) => matmul(make(be, a), make(be, c).slice(1, 0, 66, 2)), tol(70), 'a @ c[:, ::2]');
    await compare((be) => matmul(make(be, b), make(be, a).slice(1, 1, 70, 3)), tol(40), 'b @ a[:, 1::3]');
  });

  it('batched with broadcasting (batch stride 0) and transposed batches', async () => {
    const a = randomSpec([2, 3, 5, 7], 'float32', { seed: 4 });
    const b = randomSpec([7, 6], 'float32', { seed: 5 });
    const c = randomSpec([2, 1, 5, 7], 'float32', { seed: 6 });
    const d = randomSpec([3, 7, 4], 'float32', { seed: 7 });
    await compare((be) => matmul(make(be, a), make(be, b)), tol(7), '[2,3,5,7]@[7,6]');
    await compare((be) => matmul(make(be, c), make(be, d)), tol(7), '[2,1,5,7]@[3,7,4]');
    await compare((be) => matmul(make(be, b).T, make(be, a).transpose(-1, -2)), tol(7), '[6,7]@[2,3,7,5]');
    await compare(
      (be) => matmul(make(be, d).transpose(0, 2), make(be, d).permute([2, 0, 1])),
      tol(7),
      'permuted batches',
    );
  });

  it('1-D operands (row vector, column vector, dot product)', async () => {
    const v = randomSpec([33], 'float32', { seed: 8 });
    const m = randomSpec([33, 7], 'float32', { seed: 9 });
    const w = randomSpec([4, 7, 33], 'float32', { seed: 10 });
    await compare((be) => matmul(make(be, v), make(be, m)), tol(33), '[33]@[33,7]');
    await compare((be) => matmul(make(be, m).T, make(be, v)), tol(33), '[7,33]@[33]');
    await compare((be) => matmul(make(be, v), make(be, v)), tol(33), '[33]@[33]');
    await compare((be) => matmul(make(be, w), make(be, v)), tol(33), '[4,7,33]@[33]');
    await compare((be) => matmul(make(be, v), make(be, w).transpose(1, 2)), tol(33), '[33]@[4,33,7]');
  });

  it('float16 (f32 accumulation), including a transposed operand', async () => {
    const a = randomSpec([33, 65], 'float16', { seed: 11 });
    const b = randomSpec([65, 70], 'float16', { seed: 12 });
    await compare((be) => matmul(make(be, a), make(be, b)), halfTol(65), 'f16');
    await compare((be) => matmul(make(be, b).T, make(be, a).T), halfTol(65), 'f16 transposed');
  });

  it('K = 0 gives zeros', async () => {
    await compare((be) => matmul(make(be, randomSpec([3, 0])), make(be, randomSpec([0, 4]))));
  });
});
