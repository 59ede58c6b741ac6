/**
 * Golden parity with PyTorch: the fixtures (test/fixtures/*.json) hold inputs, the loss and the
 * gradients of composite functions, computed in float64 by scripts/reference/autograd_golden.py.
 * Each function is mirrored here with Kiln ops and differentiated with valueAndGrad on every
 * available backend.
 *
 * Tolerances, per element: |kiln - torch| <= atol + rtol·|torch|
 * - cpu (float32 storage, float64 arithmetic inside each kernel): atol 1e-5, rtol 1e-4
 * - webgpu (float32 arithmetic, other summation orders): atol 1e-4, rtol 1e-3
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { valueAndGrad } from '../src/index.js';
import { initCpu, tryWebgpu } from './helpers.js';

interface Encoded {
  shape: number[];
  data: number[];
  dtype?: 'float32' | 'int32';
}
interface Fixture {
  case: string;
  inputs: Record<string, Encoded>;
  data: Record<string, Encoded>;
  loss: number;
  grads: Record<string, Encoded>;
}

type Tensors = Record<string, T.Tensor>;

const fixture = (name: string): Fixture =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.json`), 'utf8'));

/** The Kiln mirror of each case in scripts/reference/autograd_golden.py. */
const cases: Record<string, (p: Tensors, d: Tensors) => T.Tensor> = {
  mlp: (p, d) => {
    const h = p.x.matmul(p.w1).add(p.b1).gelu();
    return h.matmul(p.w2).add(p.b2).sub(d.y).square().mean();
  },
  attention: (p, d) => {
    const [B, Tn, C, H] = [2, 5, 8, 2];
    const D = C / H;
    const h = T.layerNorm(p.x, p.ln_w, p.ln_b, { eps: 1e-5 });
    const heads = (t: T.Tensor) => t.reshape([B, Tn, H, D]).permute([0, 2, 1, 3]);
    const [q, k, v] = [heads(h.matmul(p.wq)), heads(h.matmul(p.wk)), heads(h.matmul(p.wv))];
    const att = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(D));
    const causal = T.tril(T.ones([Tn, Tn], { backend: p.x.backend })).gt(0);
    const y = T.where(causal, att, Number.NEGATIVE_INFINITY).softmax(-1).matmul(v);
    const out = p.x.add(y.permute([0, 2, 1, 3]).reshape([B, Tn, C]).matmul(p.wo));
    return out.mul(d.r).sum();
  },
  cross_entropy: (p, d) => T.crossEntropy(p.x.matmul(p.w), d.targets, { ignoreIndex: -100 }),
  embedding: (p, d) => {
    const e = T.embedding(d.ids, p.table);
    const h = T.rmsNorm(e, p.scale, { eps: 1e-6 });
    return h.mul(d.r).sum().add(e.sum(1).square().sum());
  },
};

function upload(map: Record<string, Encoded>, backend: T.Backend): Tensors {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [
      k,
      T.tensor(v.dtype === 'int32' ? Int32Array.from(v.data) : Float32Array.from(v.data), {
        shape: v.shape,
        backend,
      }),
    ]),
  );
}

function worst(
  got: ArrayLike<number>,
  want: number[],
  atol: number,
  rtol: number,
): { excess: number; at: number; got: number; want: number } {
  let result = { excess: Number.NEGATIVE_INFINITY, at: -1, got: 0, want: 0 };
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(excess <= result.excess))
      result = { excess: Number.isNaN(excess) ? Infinity : excess, at: i, got: got[i], want: want[i] };
  }
  return result;
}

const webgpu = await tryWebgpu();
beforeAll(initCpu);

const backends: { name: string; get: () => Promise<T.Backend | null>; atol: number; rtol: number }[] = [
  { name: 'cpu', get: () => T.initBackend('cpu'), atol: 1e-5, rtol: 1e-4 },
  { name: 'webgpu', get: async () => webgpu, atol: 1e-4, rtol: 1e-3 },
];

for (const b of backends) {
  describe.skipIf(b.name === 'webgpu' && !webgpu)(`golden parity with PyTorch on ${b.name}`, () => {
    for (const name of Object.keys(cases)) {
      test(name, async () => {
        const backend = (await b.get())!;
        const fx = fixture(name);
        await T.scope(async () => {
          const params = upload(fx.inputs, backend);
          const data = upload(fx.data, backend);
          const [loss, grads] = valueAndGrad((p: Tensors) => cases[name](p, data))(params);
          const l = worst(await loss.data(), [fx.loss], b.atol, b.rtol);
          expect(l.excess, `${name} loss: kiln ${l.got}, torch ${l.want}`).toBeLessThanOrEqual(0);
          expect(Object.keys(grads).sort()).toEqual(Object.keys(fx.grads).sort());
          for (const [k, want] of Object.entries(fx.grads)) {
            expect(grads[k].shape).toEqual(want.shape);
            const w = worst(await grads[k].data(), want.data, b.atol, b.rtol);
            expect(w.excess, `${name} d/d${k}[${w.at}]: kiln ${w.got}, torch ${w.want}`).toBeLessThanOrEqual(
              0,
            );
          }
        });
      });
    }
  });
}
