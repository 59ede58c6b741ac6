/**
 * The `matmulEpilogue` rule (act(a @ b + bias), @kiln/tensor's `matmulEpilogue`): finite
 * differences in float64 with and without the kept pre-activation, gradients equal to the
 * unfused composition (matmul → add → activation), second order through the composite that
 * `createGraph` switches to, no recomputed product when the forward kept the pre-activation, and
 * (where an adapter exists) webgpu gradients against cpu.
 */
import * as T from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { grad, gradCheck } from '../src/index.js';
import { initCpu, maxDiff, normal, tryWebgpu } from './helpers.js';

let gpu: T.Backend | null = null;
beforeAll(async () => {
  await initCpu();
  gpu = await tryWebgpu();
});
afterAll(async () => {
  if (gpu) await T.destroyBackend('webgpu');
});

const ACTIVATIONS: T.MatmulActivation[] = ['none', 'relu', 'gelu', 'geluTanh', 'silu'];

/** A Linear layer's shape of use: x [2, 3, 4] @ wᵀ (w [5, 4]) + bias [5], through `act`. */
const fused =
  (act: T.MatmulActivation, keepPreActivation: boolean) => (x: T.Tensor, w: T.Tensor, b: T.Tensor) =>
    T.matmulEpilogue(x, w.T, { bias: b, activation: act, keepPreActivation }).sin().sum();

function unfused(act: T.MatmulActivation) {
  return (x: T.Tensor, w: T.Tensor, b: T.Tensor) => {
    const y = x.matmul(w.T).add(b);
    const z =
      act === 'relu'
        ? y.relu()
        : act === 'gelu'
          ? y.gelu()
          : act === 'geluTanh'
            ? y.gelu({ approximate: 'tanh' })
            : act === 'silu'
              ? y.silu()
              : y;
    return z.sin().sum();
  };
}

const inputs = () => [normal([2, 3, 4], 1), normal([5, 4], 2), normal([5], 3)];

describe('matmulEpilogue rule: finite differences (float64, cpu)', () => {
  for (const act of ACTIVATIONS)
    for (const keep of [false, true])
      test(`${act}, keepPreActivation ${keep}`, async () => {
        const result = await gradCheck(fused(act, keep), inputs());
        expect(result.ok).toBe(true);
      });

  test('batched right operand without bias', async () => {
    const f = (a: T.Tensor, b: T.Tensor) =>
      T.matmulEpilogue(a, b, { activation: 'geluTanh', keepPreActivation: true }).square().sum();
    const result = await gradCheck(f, [normal([1, 3, 4], 4), normal([2, 4, 6], 5)]);
    expect(result.ok).toBe(true);
  });

  test('second order through the composite backward (createGraph)', async () => {
    for (const act of ['gelu', 'geluTanh', 'silu'] as const) {
      const first = (...xs: T.Tensor[]) => {
        const gs = grad(fused(act, true), { argnums: [0, 1, 2] })(...xs) as T.Tensor[];
        return T.concat(gs.map((g) => g.reshape([-1])));
      };
      const result = await gradCheck(first, inputs());
      expect(result.ok, act).toBe(true);
    }
  });
});

describe('matmulEpilogue rule: against the unfused composition (float32, cpu)', () => {
  test('same gradients for every activation', async () => {
    for (const act of ACTIVATIONS) {
      const xs = inputs();
      const want = grad(unfused(act), { argnums: [0, 1, 2] })(...xs) as T.Tensor[];
      for (const keep of [false, true]) {
        const got = grad(fused(act, keep), { argnums: [0, 1, 2] })(...xs) as T.Tensor[];
        for (let i = 0; i < 3; i++)
          expect(await maxDiff(got[i], want[i]), `${act} ${keep} #${i}`).toBeLessThan(1e-5);
      }
    }
  });

  test('the kept pre-activation spares backward the recomputed product', () => {
    const ops: string[] = [];
    const remove = T.addDispatchHook((r) => ops.push(r.op));
    try {
      for (const keep of [true, false]) {
        ops.length = 0;
        const xs = inputs();
        const before = ops.length;
        grad(fused('geluTanh', keep), { argnums: [0, 1, 2] })(...xs);
        const epilogues = ops.slice(before).filter((op) => op.startsWith('matmulEpilogue')).length;
        expect(epilogues, `keep ${keep}`).toBe(keep ? 1 : 2);
        expect(ops).toContain('activationBackward');
      }
    } finally {
      remove();
    }
  });
});

describe('matmulEpilogue rule: webgpu gradients vs cpu', () => {
  test('every activation, kept pre-activation', async () => {
    if (!gpu) return;
    const cpu = await T.initBackend('cpu');
    const shapes = [[2, 7, 33], [17, 33], [17]];
    const host = await Promise.all(
      shapes.map(async (s, i) => Float32Array.from(await normal(s, 30 + i).data())),
    );
    for (const act of ACTIVATIONS) {
      const run = async (be: T.Backend) => {
        const xs = host.map((d, i) => T.tensor(d, { shape: shapes[i], backend: be }));
        const gs = grad(fused(act, true), { argnums: [0, 1, 2] })(...xs) as T.Tensor[];
        return Promise.all(gs.map(async (g) => Float32Array.from(await g.data())));
      };
      const [want, got] = [await run(cpu), await run(gpu)];
      for (let i = 0; i < 3; i++) {
        const scale = Math.max(...want[i].map(Math.abs));
        const err = Math.max(...got[i].map((v, j) => Math.abs(v - want[i][j])));
        expect(err / scale, `${act} #${i}`).toBeLessThan(1e-4);
      }
    }
  });
});
