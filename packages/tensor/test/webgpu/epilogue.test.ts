/**
 * The frontend ops of ops/epilogue.ts: `matmulEpilogue` (act(a @ b + bias)) and
 * `activationBackward` (g · act'(x)). The CPU reference must equal the composition it stands for
 * (matmul → add → unary bit for bit; the derivative within float32 rounding of the composite),
 * backends without the kernels must fall back to that composition, and webgpu must match cpu on
 * awkward shapes, transposed views, batch broadcast and float16.
 */
import {
  type Backend,
  CpuBackend,
  type DType,
  type MatmulActivation,
  matmulEpilogue,
  scope,
  type Tensor,
} from '@kiln/tensor';
import { activationBackward, activationBackwardComposite } from '@kiln/tensor/internal';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compare,
  cpu,
  firstMismatch,
  make,
  randomSpec,
  shutdown,
  skipReason,
  suiteName,
  TOL,
} from './helpers.js';

afterAll(shutdown);

const ACTIVATIONS: MatmulActivation[] = ['none', 'relu', 'gelu', 'geluTanh', 'silu'];

/** A CPU backend without the fused kernels: the ops fall back to their composites. */
const plain: Backend = Object.assign(new CpuBackend(), {
  matmulEpilogue: undefined,
  activationBackward: undefined,
});

/** Operand layouts of one product; `w` is stored [n, k] and used transposed, as a Linear weight. */
interface Layout {
  name: string;
  a: number[];
  /** Shape of b as stored; `transposed` reads it as its last two dims swapped. */
  b: number[];
  transposed: boolean;
}

const LAYOUTS: Layout[] = [
  { name: 'linear [2,3,7] @ w[5,7]ᵀ', a: [2, 3, 7], b: [5, 7], transposed: true },
  { name: 'batched [2,3,4] @ [2,4,33]', a: [2, 3, 4], b: [2, 4, 33], transposed: false },
  { name: 'broadcast batch [1,4] @ [3,4,1]', a: [1, 4], b: [3, 4, 1], transposed: false },
];

/** The product of `layout` with every option, on `be`: [out, out with kept pre-activation]. */
function run(
  be: Backend,
  l: Layout,
  act: MatmulActivation,
  withBias: boolean,
  dtype: DType = 'float32',
): Tensor[] {
  const a = make(be, randomSpec(l.a, dtype, { seed: 1 }));
  const stored = make(be, randomSpec(l.b, dtype, { seed: 2 }));
  const b = l.transposed ? stored.transpose(-2, -1) : stored;
  const n = b.shape[b.ndim - 1];
  const bias = withBias ? make(be, randomSpec([n], dtype, { seed: 3 })) : null;
  return [
    matmulEpilogue(a, b, { bias, activation: act }),
    matmulEpilogue(a, b, { bias, activation: act, keepPreActivation: true }),
  ];
}

/** The composition matmulEpilogue stands for, with public ops. */
function composed(
  be: Backend,
  l: Layout,
  act: MatmulActivation,
  withBias: boolean,
  dtype: DType = 'float32',
): Tensor {
  const a = make(be, randomSpec(l.a, dtype, { seed: 1 }));
  const stored = make(be, randomSpec(l.b, dtype, { seed: 2 }));
  const b = l.transposed ? stored.transpose(-2, -1) : stored;
  let y = a.matmul(b);
  if (withBias) y = y.add(make(be, randomSpec([b.shape[b.ndim - 1]], dtype, { seed: 3 })));
  if (act === 'relu') return y.relu();
  if (act === 'gelu') return y.gelu();
  if (act === 'geluTanh') return y.gelu({ approximate: 'tanh' });
  if (act === 'silu') return y.silu();
  return y;
}

async function expectEqual(actual: Tensor, expected: Tensor, what: string): Promise<void> {
  expect(actual.shape, what).toEqual(expected.shape);
  const bad = firstMismatch(await actual.data(), await expected.data(), {});
  expect(bad, what).toBeNull();
}

describe('matmulEpilogue: cpu reference', () => {
  it('equals matmul → add → activation bit for bit, fused and fallback (float32 and float16)', async () => {
    for (const dtype of ['float32', 'float16'] as const)
      for (const l of LAYOUTS)
        for (const act of ACTIVATIONS)
          for (const withBias of [true, false]) {
            const what = `${l.name} ${act} bias=${withBias} ${dtype}`;
            // plain: without the kernel, with and without keepPreActivation (4 results)
            const [expected, ...results] = scope(() => [
              composed(cpu, l, act, withBias, dtype),
              ...run(cpu, l, act, withBias, dtype),
              ...run(plain, l, act, withBias, dtype),
            ]);
            for (const t of results) await expectEqual(t, expected, what);
            for (const t of [expected, ...results]) t.dispose();
          }
  });

  it('keeps shapes and broadcasts batch dims like matmul', () => {
    scope(() => {
      const [out] = run(cpu, LAYOUTS[2], 'gelu', true);
      expect(out.shape).toEqual([3, 1, 1]);
      const [lin] = run(cpu, LAYOUTS[0], 'silu', false);
      expect(lin.shape).toEqual([2, 3, 5]);
    });
  });

  it('fills with act(bias) when the inner dimension is 0', async () => {
    const out = scope(() => {
      const a = make(cpu, { data: [], shape: [2, 0], dtype: 'float32' });
      const b = make(cpu, { data: [], shape: [0, 3], dtype: 'float32' });
      const bias = make(cpu, { data: [-1, 0, 2], shape: [3], dtype: 'float32' });
      return matmulEpilogue(a, b, { bias, activation: 'relu' });
    });
    expect(Array.from(await out.data())).toEqual([0, 0, 2, 0, 0, 2]);
    out.dispose();
  });

  it('names what is wrong in bad calls', () => {
    scope(() => {
      const a = make(cpu, randomSpec([3, 4]));
      const b = make(cpu, randomSpec([4, 5]));
      expect(() => matmulEpilogue(a, b, { bias: make(cpu, randomSpec([4])) })).toThrow(
        /bias must be 1-D \[5\].*got \[4\]/,
      );
      expect(() => matmulEpilogue(a, b, { bias: make(cpu, randomSpec([5], 'float16')) })).toThrow(
        /bias is float16/,
      );
      expect(() => matmulEpilogue(a, make(cpu, randomSpec([5, 4])))).toThrow(/inner dimensions differ/);
      expect(() => matmulEpilogue(a, make(cpu, randomSpec([4])))).toThrow(/at least 2-D/);
      expect(() => matmulEpilogue(a, b, { activation: 'tanh' as MatmulActivation })).toThrow(
        /activation must be one of/,
      );
      expect(() => matmulEpilogue(make(cpu, randomSpec([3, 4], 'int32')), b)).toThrow(/float32 or float16/);
    });
  });
});

describe('activationBackward: cpu reference', () => {
  it('matches the composite derivative within float32 rounding, and falls back to it', async () => {
    for (const act of ACTIVATIONS) {
      const [fused, viaPlain, composite] = scope(() => {
        // wide range: the tails of gelu/silu, and exact zeros for relu's kink
        const spec = randomSpec([7, 33], 'float32', { seed: 5, low: -9, high: 9 });
        spec.data = Float32Array.from(spec.data as Float32Array, (v, i) => (i % 17 === 0 ? 0 : v));
        const g = randomSpec([7, 33], 'float32', { seed: 6 });
        return [
          activationBackward(act, make(cpu, spec), make(cpu, g)),
          activationBackward(act, make(plain, spec), make(plain, g)),
          activationBackwardComposite(act, make(cpu, spec), make(cpu, g)),
        ];
      });
      await expectEqual(viaPlain, composite, `${act} fallback`);
      const bad = firstMismatch(await fused.data(), await composite.data(), { rtol: 2e-6, atol: 1e-6 });
      expect(bad, act).toBeNull();
      for (const t of [fused, viaPlain, composite]) t.dispose();
    }
  });

  it('rejects mismatched operands', () => {
    scope(() => {
      const x = make(cpu, randomSpec([3, 4]));
      expect(() => activationBackward('gelu', x, make(cpu, randomSpec([4, 3])))).toThrow(/same shape/);
      expect(() => activationBackward('gelu', x, make(cpu, randomSpec([3, 4], 'float16')))).toThrow(
        /dtypes differ/,
      );
    });
  });
});

describe(suiteName('epilogue ops: webgpu vs cpu'), () => {
  it.skipIf(skipReason)(
    'matmulEpilogue at odd sizes, transposed weights, batch broadcast, float16',
    async () => {
      const sizes: [number, number, number][] = [
        [1, 1, 1],
        [3, 7, 33],
        [33, 257, 7],
      ];
      const layouts = [
        ...LAYOUTS,
        ...sizes.map(([m, k, n]) => ({
          name: `[${m},${k}] @ [${n},${k}]ᵀ`,
          a: [m, k],
          b: [n, k],
          transposed: true,
        })),
      ];
      for (const l of layouts)
        for (const act of ACTIVATIONS) {
          const tol = { rtol: 1e-4, atol: 1e-5 };
          await compare((be) => run(be, l, act, true), tol, `${l.name} ${act}`);
        }
      for (const act of ['geluTanh', 'silu'] as const)
        await compare((be) => run(be, LAYOUTS[0], act, true, 'float16'), TOL.half, `float16 ${act}`);
    },
  );

  it.skipIf(skipReason)('activationBackward at odd sizes, strided input, float16', async () => {
    for (const act of ACTIVATIONS)
      for (const n of [1, 7, 257]) {
        await compare(
          (be) => {
            const x = make(be, randomSpec([3, n], 'float32', { seed: n, low: -6, high: 6 }));
            const g = make(be, randomSpec([n, 3], 'float32', { seed: n + 1 }));
            return activationBackward(act, x, g.transpose(0, 1)); // a transposed view is copied first
          },
          { rtol: 2e-5, atol: 1e-6 },
          `${act} n=${n}`,
        );
        await compare(
          (be) =>
            activationBackward(
              act,
              make(be, randomSpec([n, 5], 'float16', { seed: n + 2 })),
              make(be, randomSpec([n, 5], 'float16', { seed: n + 3 })),
            ),
          TOL.half,
          `float16 ${act} n=${n}`,
        );
      }
  });
});
