/** Layers against direct formulas on the host, and the properties attention must have. */
import { noGrad } from '@kiln/autograd';
import { concat, manualSeed, randn, scope, type Tensor, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import {
  Attention,
  applyRope,
  createFeedForward,
  Dropout,
  GeluMLP,
  KVCache,
  LayerNorm,
  Linear,
  RMSNorm,
  RotaryEmbedding,
  SwiGLU,
} from '../src/index.js';
import { initCpu, maxAbsDiff } from './helpers.js';

const cpu = await initCpu();

async function host(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

describe('Linear, norms, MLP', () => {
  test('Linear computes x Wᵀ + b with W stored [out, in]', async () => {
    manualSeed(1);
    const layer = new Linear(3, 2);
    layer.bias!.assign(tensor([0.5, -1]));
    const x = tensor([[1, 2, 3]]);
    const W = await layer.weight.toArray();
    const want = [0, 1].map((o) => W[o][0] + 2 * W[o][1] + 3 * W[o][2] + [0.5, -1][o]);
    expect(maxAbsDiff(await host(layer.forward(x)), want)).toBeLessThan(1e-6);
    expect(new Linear(3, 2, { bias: false }).bias).toBeNull();
  });

  test('LayerNorm and RMSNorm normalise the last dimension', async () => {
    const x = tensor([[1, 2, 3, 6]]);
    const mean = 3;
    const variance = (4 + 1 + 0 + 9) / 4;
    const ln = new LayerNorm(4, { eps: 1e-5 });
    expect(
      maxAbsDiff(
        await host(ln.forward(x)),
        [1, 2, 3, 6].map((v) => (v - mean) / Math.sqrt(variance + 1e-5)),
      ),
    ).toBeLessThan(1e-5);
    const rms = new RMSNorm(4, { eps: 1e-6 });
    rms.weight.assign(tensor([1, 2, 1, 1]));
    const r = Math.sqrt((1 + 4 + 9 + 36) / 4 + 1e-6);
    expect(maxAbsDiff(await host(rms.forward(x)), [1 / r, 4 / r, 3 / r, 6 / r])).toBeLessThan(1e-5);
    expect(new LayerNorm(4, { bias: false }).bias).toBeNull();
  });

  test('MLP: GELU (tanh) and SwiGLU', async () => {
    manualSeed(2);
    const x = randn([2, 3, 8]);
    const gelu = new GeluMLP(8, 16);
    const want = gelu.proj.forward(gelu.fc.forward(x).gelu({ approximate: 'tanh' }));
    expect(maxAbsDiff(await host(gelu.forward(x)), await host(want))).toBe(0);
    const swiglu = new SwiGLU(8, 16, { bias: false });
    const want2 = swiglu.down.forward(swiglu.gate.forward(x).silu().mul(swiglu.up.forward(x)));
    expect(maxAbsDiff(await host(swiglu.forward(x)), await host(want2))).toBe(0);
    expect(swiglu.numParameters()).toBe(3 * 8 * 16);
    const dims = { dModel: 8, dFF: 16, bias: true, outputStd: 0.02 };
    expect(() => createFeedForward({ kind: 'relu' }, dims)).toThrow(
      /kind 'relu' is not a registered feed-forward kind; registered kinds: gelu, swiglu/,
    );
  });
});

describe('Dropout', () => {
  test('is the identity in eval mode and with p = 0', () => {
    const x = tensor([1, 2, 3]);
    const d = new Dropout(0.5).eval();
    expect(d.forward(x)).toBe(x);
    expect(new Dropout(0).forward(x)).toBe(x);
    expect(() => new Dropout(1)).toThrow(/p must be in \[0, 1\)/);
  });

  test('zeroes a fraction p and scales the rest by 1/(1−p), reproducibly from the seed', async () => {
    const d = new Dropout(0.25);
    const x = tensor(new Float32Array(20000).fill(1));
    manualSeed(3);
    const a = await host(d.forward(x));
    manualSeed(3);
    const b = await host(d.forward(x));
    expect(a).toEqual(b);
    const zeros = a.filter((v) => v === 0).length / a.length;
    expect(zeros).toBeGreaterThan(0.23);
    expect(zeros).toBeLessThan(0.27);
    expect(new Set(a.filter((v) => v !== 0))).toEqual(new Set([Math.fround(1 / 0.75)]));
  });
});

describe('RoPE', () => {
  test('rotates pairs (i, i + d/2) by position · θ^(−2i/d) (Hugging Face rotate-half layout)', async () => {
    manualSeed(4);
    const [T, d, theta] = [5, 8, 100];
    const x = randn([1, 2, T, d]);
    const out = await host(applyRope(x, new RotaryEmbedding(d, 16, theta).tables(0, T, cpu, 'float32')));
    const xs = await host(x);
    const want = new Array(xs.length);
    for (let h = 0; h < 2; h++) {
      for (let p = 0; p < T; p++) {
        for (let i = 0; i < d / 2; i++) {
          const base = (h * T + p) * d;
          const angle = p * theta ** ((-2 * i) / d);
          const [a, b] = [xs[base + i], xs[base + i + d / 2]];
          want[base + i] = a * Math.cos(angle) - b * Math.sin(angle);
          want[base + i + d / 2] = b * Math.cos(angle) + a * Math.sin(angle);
        }
      }
    }
    expect(maxAbsDiff(out, want)).toBeLessThan(1e-5);
  });

  test('q·k after RoPE depends only on the distance between positions', async () => {
    manualSeed(5);
    const d = 16;
    const rope = new RotaryEmbedding(d, 64, 10000);
    const q = randn([1, 1, 1, d]);
    const k = randn([1, 1, 1, d]);
    const score = async (pq: number, pk: number) =>
      scope(async () => {
        const rq = applyRope(q, rope.tables(pq, 1, cpu, 'float32'));
        const rk = applyRope(k, rope.tables(pk, 1, cpu, 'float32'));
        return rq.mul(rk).sum().item();
      });
    const s1 = await score(7, 3);
    expect(await score(30, 26)).toBeCloseTo(s1, 4);
    expect(await score(4, 0)).toBeCloseTo(s1, 4);
    expect(Math.abs((await score(7, 6)) - s1)).toBeGreaterThan(1e-3);
  });
});

describe('Attention', () => {
  test('is causal: outputs at t do not depend on tokens after t', async () => {
    manualSeed(6);
    const attn = new Attention(16, { nHeads: 4, nKvHeads: 2, ropeTheta: 10000 });
    const x = randn([2, 6, 16]);
    const changed = concat([x.slice(1, 0, 4), randn([2, 2, 16])], 1);
    const a = await host(attn.forward(x).slice(1, 0, 4));
    const b = await host(attn.forward(changed).slice(1, 0, 4));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    const full = await host(attn.forward(x).slice(1, 4, 6));
    const fullChanged = await host(attn.forward(changed).slice(1, 4, 6));
    expect(maxAbsDiff(full, fullChanged)).toBeGreaterThan(1e-3);
  });

  test('grouped-query attention equals multi-head attention with each key/value head repeated', async () => {
    manualSeed(7);
    const [d, H, Hkv, hd] = [16, 4, 2, 4];
    const gqa = new Attention(d, { nHeads: H, nKvHeads: Hkv, ropeTheta: 500 });
    const mha = new Attention(d, { nHeads: H, nKvHeads: H, ropeTheta: 500 });
    noGrad(() => {
      const w = gqa.qkv.weight;
      const b = gqa.qkv.bias!;
      // query head h uses kv head floor(h / (H / Hkv)): repeat each kv head's rows H / Hkv times
      const rows = (t: Tensor, kind: 'k' | 'v') => {
        const start = kind === 'k' ? H * hd : (H + Hkv) * hd;
        const heads = Array.from({ length: H }, (_, h) => {
          const j = Math.floor(h / (H / Hkv));
          return t.slice(0, start + j * hd, start + (j + 1) * hd);
        });
        return concat(heads, 0);
      };
      mha.qkv.weight.assign(concat([w.slice(0, 0, H * hd), rows(w, 'k'), rows(w, 'v')], 0));
      mha.qkv.bias!.assign(concat([b.slice(0, 0, H * hd), rows(b, 'k'), rows(b, 'v')], 0));
      mha.o.weight.assign(gqa.o.weight);
      mha.o.bias!.assign(gqa.o.bias!);
    });
    const x = randn([2, 5, d]);
    expect(maxAbsDiff(await host(gqa.forward(x)), await host(mha.forward(x)))).toBeLessThan(1e-6);
    expect(gqa.qkv.weight.shape).toEqual([(H + 2 * Hkv) * hd, d]);
  });

  test('with a KV cache, a prefill then one token at a time equals the full forward', async () => {
    manualSeed(8);
    for (const options of [
      { nHeads: 4, nKvHeads: 2, ropeTheta: 10000, qkNorm: true },
      { nHeads: 2, bias: true },
    ]) {
      const attn = new Attention(16, options);
      const x = randn([2, 7, 16]);
      const full = await host(attn.forward(x));
      const cache = new KVCache(1, 2, attn.nKvHeads, 8, attn.headDim);
      const parts = noGrad(() => {
        const out = [attn.forward(x.slice(1, 0, 3), { cache: cache.layers[0], position: 0 })];
        for (let t = 3; t < 7; t++)
          out.push(attn.forward(x.slice(1, t, t + 1), { cache: cache.layers[0], position: t }));
        return concat(out, 1);
      });
      expect(maxAbsDiff(await host(parts), full)).toBeLessThan(1e-5);
      expect(() => attn.forward(x.slice(1, 0, 1), { cache: cache.layers[0], position: 0 })).toThrow(
        /inside noGrad/,
      );
      expect(() =>
        noGrad(() => attn.forward(x.slice(1, 0, 2), { cache: cache.layers[0], position: 7 })),
      ).toThrow(/holds 8 positions but positions 7…8/);
      cache.dispose();
    }
  });
});
