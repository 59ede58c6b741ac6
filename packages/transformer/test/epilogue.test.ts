/**
 * Linear and MLP on the fused matmul epilogue: the same values and gradients as the unfused
 * layers (matmul → add → activation), the pre-activation kept only when a gradient can flow,
 * and (where an adapter exists) webgpu against cpu.
 */
import { grad, noGrad } from '@kiln/autograd';
import {
  addDispatchHook,
  type Backend,
  manualSeed,
  type OpRecord,
  randn,
  scope,
  type Tensor,
  tensor,
} from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import { type FeedForwardLayerOptions, GeluMLP, type Linear, SwiGLU } from '../src/index.js';
import { initCpu, maxAbsDiff, tryWebgpu } from './helpers.js';

const cpu = await initCpu();
const webgpu = await tryWebgpu();

type MLP = GeluMLP | SwiGLU;

/** A GELU or SwiGLU feed-forward module, as the old combined MLP took its activation. */
function makeMLP(
  activation: 'gelu' | 'swiglu',
  dModel: number,
  dFF: number,
  options: FeedForwardLayerOptions = {},
): MLP {
  return activation === 'gelu' ? new GeluMLP(dModel, dFF, options) : new SwiGLU(dModel, dFF, options);
}

/** The MLP written out without the fused epilogue. */
function unfused(mlp: MLP, x: Tensor): Tensor {
  const linear = (l: Linear, v: Tensor) => {
    const y = v.matmul(l.weight.T);
    return l.bias ? y.add(l.bias) : y;
  };
  if (mlp instanceof GeluMLP) return linear(mlp.proj, linear(mlp.fc, x).gelu({ approximate: 'tanh' }));
  return linear(mlp.down, linear(mlp.gate, x).silu().mul(linear(mlp.up, x)));
}

/** Op records `fn` dispatches (top level only, as autograd sees them). */
function records(fn: () => void): OpRecord[] {
  const seen: OpRecord[] = [];
  const remove = addDispatchHook((r) => seen.push(r));
  try {
    fn();
  } finally {
    remove();
  }
  return seen;
}

async function gradsOf(mlp: MLP, x: Tensor, f: (m: MLP, x: Tensor) => Tensor): Promise<number[][]> {
  const params = mlp.parameters();
  const gs = grad((..._ps: Tensor[]) => f(mlp, x).sin().sum(), { argnums: params.map((_, i) => i) })(
    ...params,
  ) as Tensor[];
  return Promise.all(gs.map(async (g) => Array.from(await g.data())));
}

describe('MLP on the fused epilogue', () => {
  for (const activation of ['gelu', 'swiglu'] as const) {
    test(`${activation}: gradients equal the unfused layers'`, async () => {
      manualSeed(3);
      const mlp = makeMLP(activation, 8, 16, { bias: true });
      const x = randn([2, 3, 8]);
      const got = await gradsOf(mlp, x, (m, v) => m.forward(v));
      const want = await gradsOf(mlp, x, unfused);
      expect(got.length).toBe(activation === 'gelu' ? 4 : 6);
      for (let i = 0; i < got.length; i++)
        expect(maxAbsDiff(got[i], want[i]), `param ${i}`).toBeLessThan(1e-5);
    });
  }

  test('keeps the pre-activation under grad only', () => {
    manualSeed(4);
    const mlp = new GeluMLP(8, 16);
    const x = randn([2, 8]);
    // one op, matmulEpilogue; whether it keeps the pre-activation is in its attrs
    const epilogues = (fn: () => void) =>
      records(fn)
        .filter((r) => r.op === 'matmulEpilogue')
        .map((r) => (r.op === 'matmulEpilogue' && r.attrs.keepPreActivation ? 'pre' : 'plain'));
    const training = epilogues(() => scope(() => void mlp.forward(x)));
    expect(training).toEqual(['pre', 'plain']);
    const inference = epilogues(() => noGrad(() => scope(() => void mlp.forward(x))));
    expect(inference).toEqual(['plain', 'plain']);
  });

  test.skipIf(!webgpu)('webgpu values and gradients match cpu', async () => {
    for (const activation of ['gelu', 'swiglu'] as const) {
      manualSeed(5);
      const mlp = makeMLP(activation, 24, 40, { bias: activation === 'gelu' });
      const x = randn([3, 7, 24]);
      const xs = Array.from(await x.data());
      const run = async (be: Backend) => {
        const m = makeMLP(activation, 24, 40, { bias: activation === 'gelu', backend: be });
        const state = mlp.stateDict();
        const moved = await Promise.all(
          Object.entries(state).map(
            async ([k, t]) => [k, tensor(await t.data(), { shape: t.shape, backend: be })] as const,
          ),
        );
        m.loadStateDict(Object.fromEntries(moved));
        const input = tensor(xs, { shape: x.shape, backend: be });
        const y = Array.from(await noGrad(() => m.forward(input)).data());
        return [y, ...(await gradsOf(m, input, (mm, v) => mm.forward(v)))];
      };
      const [want, got] = [await run(cpu), await run(webgpu!)];
      for (let i = 0; i < want.length; i++) {
        const scale = Math.max(1e-3, ...want[i].map(Math.abs));
        expect(maxAbsDiff(got[i], want[i]) / scale, `${activation} #${i}`).toBeLessThan(1e-4);
      }
    }
  });
});
