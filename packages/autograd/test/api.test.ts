/** The public API: grad/valueAndGrad, grad mode, Parameter and backward, errors, lifetimes. */
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { graphStats, sweepAmbient } from '../src/graph.js';
import {
  AutogradError,
  backward,
  detach,
  enableGrad,
  grad,
  isGradEnabled,
  isTracked,
  Module,
  noGrad,
  Parameter,
  RULES,
  type Rule,
  valueAndGrad,
} from '../src/index.js';
import { initCpu } from './helpers.js';

beforeAll(initCpu);

const arr = async (t: T.Tensor) => Array.from(await t.data());

describe('grad and valueAndGrad', () => {
  test('argnums: one index or a list', async () => {
    const f = (a: T.Tensor, b: T.Tensor) => a.mul(b).sum();
    const a = T.tensor([1, 2]);
    const b = T.tensor([3, 4]);
    expect(await arr(grad(f)(a, b))).toEqual([3, 4]);
    expect(await arr(grad(f, { argnums: 1 })(a, b))).toEqual([1, 2]);
    const [ga, gb] = grad(f, { argnums: [0, 1] })(a, b);
    expect(await arr(ga)).toEqual([3, 4]);
    expect(await arr(gb)).toEqual([1, 2]);
  });

  test('nested objects and arrays of tensors keep their structure', async () => {
    const params = { w: T.tensor([2]), layers: [T.tensor([3]), { b: T.tensor([5]) }] };
    const f = (p: typeof params) =>
      p.w
        .mul(p.layers[0] as T.Tensor)
        .mul((p.layers[1] as { b: T.Tensor }).b)
        .sum();
    const g = grad(f)(params);
    expect(await arr(g.w)).toEqual([15]);
    expect(await arr(g.layers[0] as T.Tensor)).toEqual([10]);
    expect(await arr((g.layers[1] as { b: T.Tensor }).b)).toEqual([6]);
  });

  test('a Module argument gives gradients by parameter name', async () => {
    class Affine extends Module {
      w = new Parameter(T.tensor([2, 3]));
      b = new Parameter(T.tensor([1]));
    }
    const m = new Affine();
    const g = grad((model: Affine) =>
      model.w
        .mul(T.tensor([1, 10]))
        .add(model.b)
        .sum(),
    )(m);
    expect(Object.keys(g)).toEqual(['w', 'b']);
    expect(await arr(g.w)).toEqual([1, 10]);
    expect(await arr(g.b)).toEqual([2]);
    expect(m.w.grad).toBeNull(); // functional grad never writes .grad
    m.dispose();
  });

  test('valueAndGrad returns the value; hasAux passes aux through', async () => {
    const x = T.tensor([1, 2, 3]);
    const [v, g] = valueAndGrad((t: T.Tensor) => t.square().sum())(x);
    expect(await v.item()).toBe(14);
    expect(await arr(g)).toEqual([2, 4, 6]);
    const [[loss, aux], g2] = valueAndGrad(
      (t: T.Tensor) =>
        [t.sum(), { doubled: t.mul(2), note: 'hi' }] as [T.Tensor, { doubled: T.Tensor; note: string }],
      {
        hasAux: true,
      },
    )(x);
    expect(await loss.item()).toBe(6);
    expect(await arr(aux.doubled)).toEqual([2, 4, 6]);
    expect(aux.note).toBe('hi');
    expect(await arr(g2)).toEqual([1, 1, 1]);
    // results are constants: nothing is tracked after the call
    expect(isTracked(v) || isTracked(g) || isTracked(aux.doubled) || isTracked(x)).toBe(false);
  });

  test('an input the output does not depend on gets zeros', async () => {
    const g = grad((_a: T.Tensor, b: T.Tensor) => b.sum(), { argnums: [0, 1] })(
      T.tensor([1, 2]),
      T.tensor([3]),
    );
    expect(await arr(g[0])).toEqual([0, 0]);
    expect(await arr(g[1])).toEqual([1]);
  });

  test('a cast to float16 and back passes the gradient in each dtype', async () => {
    const x = T.tensor([0.5, -1.25]);
    const g = grad((t: T.Tensor) => t.cast('float16').square().cast('float32').sum())(x);
    expect(g.dtype).toBe('float32');
    expect(await arr(g)).toEqual([1, -2.5]);
    const h = T.tensor([1.5, 2], { dtype: 'float16' });
    const gh = grad((t: T.Tensor) => t.mul(t).cast('float32').sum())(h);
    expect(gh.dtype).toBe('float16');
    expect(await arr(gh)).toEqual([3, 4]);
  });

  test('the same tensor used twice gets the total derivative', async () => {
    const x = T.tensor([3]);
    expect(await arr(grad((a: T.Tensor) => a.mul(a).add(a).sum())(x))).toEqual([7]);
  });

  test('intermediates of f are disposed when the call returns; saved tensors are freed', () => {
    const x = T.tensor([1, 2, 3]);
    const before = T.memory().liveTensors;
    const g = grad((t: T.Tensor) => t.exp().mul(t.sin()).sum())(x);
    expect(T.memory().liveTensors).toBe(before + 1); // only the gradient
    expect(graphStats().savedTensors).toBe(0);
    g.dispose();
  });

  test('bad calls say what is wrong', () => {
    const x = T.tensor([1, 2]);
    expect(() => grad((t: T.Tensor) => t.mul(2))(x)).toThrow(/one element \(a loss\).*\.sum\(\)/);
    expect(() => grad((t: T.Tensor) => t.cast('float32').sum())(T.tensor([1], { dtype: 'int32' }))).toThrow(
      /int32.*only float tensors/,
    );
    expect(() => grad((t: T.Tensor) => t.sum(), { argnums: 2 })(x)).toThrow(/argnums 2 is out of range/);
    expect(() => grad((o: { n: number }) => T.tensor(o.n))({ n: 1 })).toThrow(/argument 0\.n is number/);
    expect(() => grad((async (t: T.Tensor) => t.sum()) as unknown as (t: T.Tensor) => T.Tensor)(x)).toThrow(
      /synchronous/,
    );
  });
});

describe('grad mode', () => {
  test('noGrad and enableGrad nest; isGradEnabled reports the mode', () => {
    expect(isGradEnabled()).toBe(true);
    noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      enableGrad(() => expect(isGradEnabled()).toBe(true));
      expect(isGradEnabled()).toBe(false);
    });
    expect(isGradEnabled()).toBe(true);
  });

  test('the mode survives await and does not leak into concurrent code', async () => {
    const seen: boolean[] = [];
    const tick = () => new Promise((r) => setTimeout(r, 5));
    await Promise.all([
      noGrad(async () => {
        await tick();
        seen.push(isGradEnabled());
        await tick();
        seen.push(isGradEnabled());
      }),
      (async () => {
        await tick();
        seen.push(isGradEnabled());
      })(),
    ]);
    expect(seen.sort()).toEqual([false, false, true]);
    expect(isGradEnabled()).toBe(true);
  });

  test('ops under noGrad are not recorded; the mode is restored after a throw', () => {
    const w = new Parameter(T.tensor([1, 2]));
    const y = noGrad(() => w.mul(2));
    expect(isTracked(y)).toBe(false);
    const z = w.mul(2);
    expect(isTracked(z)).toBe(true);
    z.dispose();
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    w.dispose();
  });
});

describe('Parameter and backward', () => {
  test('a Parameter is a tensor that takes ownership of its data and outlives scopes', async () => {
    const data = T.tensor([1, 2]);
    const p = T.scope(() => new Parameter(data));
    expect(data.isDisposed).toBe(true);
    expect(p.isDisposed).toBe(false);
    expect(p).toBeInstanceOf(T.Tensor);
    expect(await arr(p.add(1))).toEqual([2, 3]);
    p.dispose();
  });

  test('.grad accumulates across backward calls until zeroed', async () => {
    const w = new Parameter(T.tensor([1, -2]));
    const x = T.tensor([3, 4]);
    backward(w.mul(x).sum());
    expect(await arr(w.grad!)).toEqual([3, 4]);
    backward(w.mul(x).sum());
    expect(await arr(w.grad!)).toEqual([6, 8]);
    w.zeroGrad();
    expect(w.grad).toBeNull();
    backward(w.square().sum());
    expect(await arr(w.grad!)).toEqual([2, -4]);
    w.dispose();
  });

  test('requiresGrad: false freezes a parameter', () => {
    const a = new Parameter(T.tensor([1]));
    const frozen = new Parameter(T.tensor([2]), { requiresGrad: false });
    backward(a.mul(frozen).sum());
    expect(a.grad).not.toBeNull();
    expect(frozen.grad).toBeNull();
    a.dispose();
    frozen.dispose();
  });

  test('backward twice through a freed graph says to pass retainGraph', async () => {
    const w = new Parameter(T.tensor([1, 2]));
    const loss = w.exp().sum();
    backward(loss);
    expect(() => backward(loss)).toThrow(AutogradError);
    expect(() => backward(loss)).toThrow(/already freed.*retainGraph: true/);
    const loss2 = w.exp().sum();
    backward(loss2, { retainGraph: true });
    backward(loss2);
    expect(await arr(w.grad!)).toEqual(Array.from(await T.tensor([1, 2]).exp().mul(3).data()));
    w.dispose();
  });

  test('backward frees the saved tensors as it goes', () => {
    const w = new Parameter(
      T.tensor([
        [1, 2],
        [3, 4],
      ]),
    );
    const base = graphStats().savedTensors;
    const loss = T.scope(() => w.matmul(w).tanh().sum());
    expect(graphStats().savedTensors).toBeGreaterThan(base);
    backward(loss);
    expect(graphStats().savedTensors).toBe(base);
    w.dispose();
  });

  test('bad losses get clear errors', () => {
    const w = new Parameter(T.tensor([1, 2]));
    expect(() => backward(w.mul(2))).toThrow(/one element.*loss\.mean\(\)/);
    expect(() => backward(T.tensor([1]).sum())).toThrow(/does not require grad/);
    w.dispose();
  });
});

describe('non-differentiable ops and missing rules', () => {
  test('a gradient requested through argmax names it', () => {
    const x = T.tensor([1, 3, 2]);
    expect(() => grad((t: T.Tensor) => t.argmax().cast('float32'))(x)).toThrow(
      /'argmax' is not differentiable \(it returns integer indices\)/,
    );
    expect(() => grad((t: T.Tensor) => t.gt(1).cast('float32').sum())(x)).toThrow(
      /'gt' is not differentiable \(comparisons return bool\)/,
    );
    expect(() => grad((t: T.Tensor) => t.cast('int32').cast('float32').sum())(x)).toThrow(
      /'cast' returns int32/,
    );
  });

  test('masks made with comparisons are constants: the gradient flows around them', async () => {
    const x = T.tensor([-1, 2, 3]);
    const g = grad((t: T.Tensor) => t.mul(t.gt(0).cast('float32')).sum())(x);
    expect(await arr(g)).toEqual([0, 1, 1]);
  });

  test('an op without a rule fails when a gradient must flow through it', async () => {
    const table = RULES as Record<string, Rule>;
    const saved = table.cumsum;
    delete table.cumsum;
    try {
      const x = T.tensor([1, 2]);
      expect(() => grad((t: T.Tensor) => t.cumsum(0).sum())(x)).toThrow(
        /no gradient rule is registered for 'cumsum'/,
      );
      // forward alone is fine, and so is a path that does not need it
      expect(await arr(grad((t: T.Tensor) => t.sum().add(detach(t.cumsum(0)).sum()))(x))).toEqual([1, 1]);
    } finally {
      table.cumsum = saved;
    }
  });
});

describe('in-place writes', () => {
  test('modifying a saved tensor before backward is detected', () => {
    const w = new Parameter(T.tensor([1, 2]));
    const loss = w.square().sum();
    noGrad(() => w.assign(T.tensor([5, 5])));
    expect(() => backward(loss)).toThrow(/modified in place by assign\(\)/);
    w.dispose();
  });

  test('assigning a value that requires grad is refused outside noGrad', async () => {
    const w = new Parameter(T.tensor([1, 2]));
    const target = T.zeros([2]);
    expect(() => T.scope(() => target.assign(w.mul(2)))).toThrow(/noGrad/);
    // an SGD step the usual way
    backward(w.square().sum());
    noGrad(() => w.assign(w.sub(w.grad!.mul(0.5))));
    expect(await arr(w)).toEqual([0, 0]);
    w.dispose();
  });
});

describe('lifetimes', () => {
  test('saved tensors survive the user disposing their handles', async () => {
    const w = new Parameter(T.tensor([0.5, 1.5]));
    const loss = T.scope(() => {
      const h = w.mul(3);
      const y = h.sin();
      return y.sum(); // h and y are disposed here; backward needs h
    });
    backward(loss);
    const expected = [0.5, 1.5].map((v) => 3 * Math.cos(3 * v));
    for (const [i, v] of (await arr(w.grad!)).entries()) expect(v).toBeCloseTo(expected[i], 5);
    w.dispose();
  });

  test('a forward pass that is never differentiated is freed once its outputs are disposed', () => {
    sweepAmbient();
    const w = new Parameter(T.tensor([1, 2, 3]));
    const before = T.memory().liveTensors;
    const base = graphStats().savedTensors;
    T.scope(() => w.exp().mul(w).tanh().sum()).dispose();
    expect(graphStats().savedTensors).toBeGreaterThan(base);
    sweepAmbient();
    expect(graphStats().savedTensors).toBe(base);
    expect(T.memory().liveTensors).toBe(before);
    w.dispose();
  });

  test('detach stops the gradient', async () => {
    const x = T.tensor([2]);
    const g = grad((t: T.Tensor) => t.mul(detach(t)).sum())(x);
    expect(await arr(g)).toEqual([2]);
  });
});
