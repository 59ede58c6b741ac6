/** recompute: same gradients as without it, fewer saved tensors, RNG replayed, clean memory. */
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { graphStats, sweepAmbient } from '../src/graph.js';
import { backward, grad, Parameter, recompute, valueAndGrad } from '../src/index.js';
import { initCpu, maxDiff } from './helpers.js';

beforeAll(initCpu);

function makeParams(): Parameter[] {
  T.manualSeed(7);
  return T.scope(() => [
    new Parameter(T.randn([4, 8]).mul(0.5)),
    new Parameter(T.randn([8]).mul(0.1)),
    new Parameter(T.randn([8, 4]).mul(0.5)),
  ]);
}

// a block with dropout: the mask comes from the seeded generator, so recomputation must replay it
function block(params: Parameter[]) {
  const [w1, b1, w2] = params;
  return (x: T.Tensor): T.Tensor => {
    const h = x.matmul(w1).add(b1).gelu();
    const keepMask = T.rand(h.shape).lt(0.8).cast('float32');
    return h.mul(keepMask).div(0.8).matmul(w2).tanh().add(x);
  };
}

async function grads(useRecompute: boolean): Promise<{ values: Float32Array[]; saved: number }> {
  const params = makeParams();
  const f = block(params);
  const g = useRecompute ? recompute(f) : f;
  T.manualSeed(99);
  const base = graphStats().savedTensors;
  const loss = T.scope(() => {
    const x = T.tensor(
      Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)),
      { shape: [3, 4] },
    );
    return g(g(x)).square().mean();
  });
  const saved = graphStats().savedTensors - base;
  backward(loss);
  const values = await Promise.all(params.map(async (p) => (await p.grad!.data()) as Float32Array));
  for (const p of params) p.dispose();
  loss.dispose();
  return { values, saved };
}

describe('recompute', () => {
  test('gives the same parameter gradients (dropout included) while saving fewer tensors', async () => {
    const plain = await grads(false);
    const ckpt = await grads(true);
    for (const [i, v] of plain.values.entries()) expect(maxDiff(v, ckpt.values[i])).toBeLessThan(1e-6);
    expect(ckpt.saved).toBeLessThan(plain.saved / 3);
  });

  test('differentiates with respect to its arguments too, and inside grad', async () => {
    const params = makeParams();
    const f = block(params);
    const x = T.tensor([
      [0.1, -0.2, 0.3, 0.4],
      [1, 2, -1, 0],
    ]);
    T.manualSeed(5);
    const plain = grad((t: T.Tensor) => f(t).sum())(x);
    T.manualSeed(5);
    const ckpt = grad((t: T.Tensor) => recompute(f)(t).sum())(x);
    expect(maxDiff(await plain.data(), await ckpt.data())).toBeLessThan(1e-6);
    for (const p of params) p.dispose();
  });

  test('leaves no saved tensors or live tensors behind after backward', () => {
    sweepAmbient();
    const params = makeParams();
    const before = T.memory().liveTensors;
    const base = graphStats().savedTensors;
    const f = recompute(block(params));
    T.scope(() => {
      const loss = f(T.ones([2, 4])).sum();
      backward(loss);
    });
    for (const p of params) p.zeroGrad();
    expect(graphStats().savedTensors).toBe(base);
    expect(T.memory().liveTensors).toBe(before);
    for (const p of params) p.dispose();
  });

  test('second-order gradients through a recomputed function are refused clearly', () => {
    const w = new Parameter(T.tensor([1, 2]));
    const f = recompute((x: T.Tensor) => x.mul(w).square());
    const loss = f(T.tensor([1, 1])).sum();
    expect(() => backward(loss, { createGraph: true })).toThrow(/recompute: higher-order gradients/);
    w.dispose();
  });

  test('under noGrad it just calls the function', async () => {
    const f = recompute((x: T.Tensor) => x.mul(2));
    const [v] = valueAndGrad((x: T.Tensor) => x.sum())(T.tensor([1]));
    expect(await v.item()).toBe(1);
    const { noGrad } = await import('../src/index.js');
    expect(await noGrad(() => f(T.tensor([3]))).item()).toBe(6);
  });
});
