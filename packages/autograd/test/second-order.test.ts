/** Second-order gradients: grad(grad(f)) against analytic values, and finite differences of gradients. */
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { graphStats } from '../src/graph.js';
import { backward, grad, gradCheck, Parameter, valueAndGrad } from '../src/index.js';
import { initCpu, normal, uniform } from './helpers.js';

beforeAll(initCpu);

async function close(t: T.Tensor, expected: number[], tol = 1e-5): Promise<void> {
  const got = Array.from(await t.data());
  expect(got.length).toBe(expected.length);
  for (const [i, v] of got.entries()) expect(v).toBeCloseTo(expected[i], -Math.log10(tol));
}

describe('grad(grad(f)) against analytic second derivatives', () => {
  const xs = [-1.5, -0.3, 0.4, 1.2, 2];
  const elementwise = (f: (x: T.Tensor) => T.Tensor) =>
    grad((x: T.Tensor) => grad((y: T.Tensor) => f(y).sum())(x).sum());

  test('x³ → 6x', async () => {
    await close(
      elementwise((x) => x.pow(3))(T.tensor(xs)),
      xs.map((x) => 6 * x),
      1e-4,
    );
  });

  test('sin x → -sin x', async () => {
    await close(
      elementwise((x) => x.sin())(T.tensor(xs)),
      xs.map((x) => -Math.sin(x)),
    );
  });

  test('tanh x → -2 tanh x (1 - tanh² x)', async () => {
    await close(
      elementwise((x) => x.tanh())(T.tensor(xs)),
      xs.map((x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2)),
    );
  });

  test('exp(x)·x → (x + 2) eˣ', async () => {
    await close(
      elementwise((x) => x.exp().mul(x))(T.tensor(xs)),
      xs.map((x) => (x + 2) * Math.exp(x)),
      1e-4,
    );
  });

  test('sigmoid → σ(1-σ)(1-2σ)', async () => {
    const s = (x: number) => 1 / (1 + Math.exp(-x));
    await close(
      elementwise((x) => x.sigmoid())(T.tensor(xs)),
      xs.map((x) => s(x) * (1 - s(x)) * (1 - 2 * s(x))),
    );
  });

  test('mixed partial of x·y² w.r.t. y then x → 2y', async () => {
    const x = T.tensor([1.5, -2]);
    const y = T.tensor([0.5, 3]);
    const dydx = grad(
      (a: T.Tensor, b: T.Tensor) => grad((b2: T.Tensor) => a.mul(b2.square()).sum())(b).sum(),
      { argnums: 0 },
    );
    await close(dydx(x, y), [1, 6]);
  });

  test('third derivative of x⁴ → 24x', async () => {
    const d = (f: (x: T.Tensor) => T.Tensor) => (x: T.Tensor) => grad((y: T.Tensor) => f(y).sum())(x);
    const third = d(d(d((x) => x.pow(4))));
    await close(
      third(T.tensor(xs)),
      xs.map((x) => 24 * x),
      1e-3,
    );
  });

  test('Hessian-vector product of a quadratic form xᵀAx → (A + Aᵀ)v', async () => {
    const A = T.tensor([
      [1, 2],
      [0.5, -1],
    ]);
    const v = T.tensor([1, -2]);
    const hvp = grad((x: T.Tensor) =>
      grad((y: T.Tensor) => y.matmul(A).matmul(y))(x)
        .mul(v)
        .sum(),
    );
    // (A + Aᵀ)v = [[2, 2.5], [2.5, -2]]·[1, -2] = [-3, 6.5]
    await close(hvp(T.tensor([0.3, 0.7])), [-3, 6.5]);
  });

  test('gradient penalty: backward with createGraph reaches parameters through .grad', async () => {
    const w = new Parameter(T.tensor([0.5, -1, 2]));
    const x = T.tensor([1, 2, 3]);
    const loss = x.mul(w).square().sum(); // dL/dw = 2x²w
    backward(loss, { createGraph: true });
    const penalty = w.grad!.square().sum(); // Σ(2x²w)² → d/dw = 8x⁴w
    w.zeroGrad();
    backward(penalty);
    await close(w.grad!, [0.5 * 8, -1 * 8 * 16, 2 * 8 * 81], 1e-3);
    w.dispose();
  });

  test('nested calls leave no saved tensors behind', () => {
    const before = graphStats().savedTensors;
    const g2 = grad((x: T.Tensor) => grad((y: T.Tensor) => y.pow(3).sum())(x).sum());
    T.scope(() => g2(T.tensor([1, 2, 3])));
    expect(graphStats().savedTensors).toBe(before);
  });
});

describe('finite differences of gradients (second order, float64)', () => {
  const cases: [string, () => T.Tensor[], (...xs: T.Tensor[]) => T.Tensor][] = [
    ['matmul + tanh', () => [normal([3, 4], 1), normal([4, 2], 2)], (a, b) => a.matmul(b).tanh().sum()],
    ['softmax', () => [normal([2, 5], 3)], (x) => x.softmax(-1).square().sum()],
    ['logSoftmax', () => [normal([2, 5], 4)], (x) => x.logSoftmax(-1).mul(x).sum()],
    [
      'layerNorm with affine',
      () => [normal([3, 4], 5), normal([4], 6), normal([4], 7)],
      (x, w, b) => T.layerNorm(x, w, b).sin().sum(),
    ],
    ['rmsNorm', () => [normal([3, 4], 8), normal([4], 9)], (x, w) => T.rmsNorm(x, w).square().sum()],
    [
      'layerNorm of a vector (weight and bias gradients without rows to sum)',
      () => [normal([5], 15), normal([5], 16), normal([5], 17)],
      (x, w, b) => T.layerNorm(x, w, b).sin().sum(),
    ],
    [
      'crossEntropy',
      () => [normal([4, 3], 10)],
      (l) => T.crossEntropy(l, T.tensor([0, 2, -100, 1], { dtype: 'int32', backend: l.backend })),
    ],
    ['gelu and silu', () => [normal([6], 11)], (x) => x.gelu().add(x.silu()).sum()],
    ['div, sqrt and log', () => [uniform([5], 12, 0.5, 2)], (x) => x.div(x.sqrt().add(1)).log().sum()],
    [
      'embedding',
      () => [normal([4, 3], 13)],
      (w) =>
        T.embedding(T.tensor([1, 1, 3], { dtype: 'int32', backend: w.backend }), w)
          .square()
          .sum(),
    ],
    ['max and mean', () => [normal([3, 4], 14)], (x) => x.square().max(1).mean()],
    [
      'a mixture-of-experts layer: dispatch, grouped product, combine through the gates',
      () => [normal([3, 2], 15), normal([2, 2, 3], 16), normal([3, 2], 17)],
      (x, w, gates) => {
        const backend = x.backend;
        const slots = T.tensor([4, 0, 2, 5, 1, 3], { dtype: 'int32', shape: [3, 2], backend });
        const ends = T.tensor([2, 6], { dtype: 'int32', backend });
        const h = T.groupedMatmul(T.dispatchRows(x, slots, 6), w, ends).tanh();
        return T.combineRows(T.groupedMatmul(h, w.permute([0, 2, 1]), ends), slots, gates)
          .square()
          .sum();
      },
    ],
  ];
  for (const [name, inputs, f] of cases) {
    test(name, async () => {
      const argnums = inputs().map((_, i) => i);
      const first = (...xs: T.Tensor[]) => {
        const gs = grad(f, { argnums })(...xs) as T.Tensor[];
        return T.concat(gs.map((g) => g.reshape([-1])));
      };
      const result = await gradCheck(first, inputs());
      expect(result.ok).toBe(true);
    });
  }

  test('valueAndGrad inside grad keeps the value differentiable', async () => {
    const f = grad((x: T.Tensor) => {
      const [v, g] = valueAndGrad((y: T.Tensor) => y.square().sum())(x);
      return v.add(g.sum());
    });
    await close(f(T.tensor([1, -2])), [4, -2]); // d/dx (Σx² + Σ2x) = 2x + 2
  });
});
