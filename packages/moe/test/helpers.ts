/**
 * Test helpers: backends, and a host reference of an MoE layer written token by token in
 * float64 (route, top-k, gates, each chosen expert's MLP, sum), independent of the dispatch code.
 */
import { type Backend, init, initBackend, type Tensor } from '@kiln/tensor';
import type { MoE } from '../src/index.js';

/** Makes cpu the default backend and returns it. */
export async function initCpu(): Promise<Backend> {
  await init({ backend: 'cpu', quiet: true });
  return initBackend('cpu');
}

/** The webgpu backend when it can be created here, else null (tests then skip). */
export async function tryWebgpu(): Promise<Backend | null> {
  try {
    return await initBackend('webgpu');
  } catch {
    return null;
  }
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function host(t: Tensor | null | undefined): Promise<Float64Array | null> {
  return t ? Float64Array.from(await t.data()) : null;
}

const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** What {@link referenceMoE} computes. */
export interface Reference {
  out: Float64Array;
  /** Pairs per expert (before dropping). */
  counts: number[];
  /** Pairs dropped per expert (capacity dispatch). */
  dropped: number[];
}

/** The layer's output for `x [N, d]` computed token by token on the host (selection bias included). */
export async function referenceMoE(moe: MoE, x: Tensor): Promise<Reference> {
  const o = moe.options;
  const [N, d] = x.shape;
  const E = o.experts;
  const f = o.expertDFF;
  const k = o.topK;
  const X = (await host(x))!;
  const R = (await host(moe.router.weight))!;
  const bias = await host(moe.router.selectionBias);
  const W1 = (await host(moe.experts.w1))!;
  const W3 = await host(moe.experts.w3);
  const W2 = (await host(moe.experts.w2))!;
  const choices: number[][] = [];
  const gates: number[][] = [];
  for (let n = 0; n < N; n++) {
    const logits = Array.from({ length: E }, (_, e) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += X[n * d + i] * R[e * d + i];
      return s;
    });
    let scores: number[];
    if (o.scoring === 'softmax') {
      const m = Math.max(...logits);
      const ex = logits.map((l) => Math.exp(l - m));
      const z = ex.reduce((a, b) => a + b, 0);
      scores = ex.map((v) => v / z);
    } else scores = logits.map((l) => 1 / (1 + Math.exp(-l)));
    const keys = scores.map((s, e) => s + (bias ? bias[e] : 0));
    const order = keys.map((_, e) => e).sort((a, b) => keys[b] - keys[a]);
    const chosen = order.slice(0, k);
    let g = chosen.map((e) => scores[e]);
    if (o.normalizeTopK) {
      const z = g.reduce((a, b) => a + b, 0);
      g = g.map((v) => v / z);
    }
    g = g.map((v) => v * o.routedScale);
    choices.push(chosen);
    gates.push(g);
  }
  // capacity: slot-major ranks (every first choice before any second choice)
  const counts = new Array(E).fill(0);
  const dropped = new Array(E).fill(0);
  const kept: boolean[][] = Array.from({ length: N }, () => new Array(k).fill(true));
  const C = o.dispatch === 'capacity' ? Math.max(1, Math.ceil((o.capacityFactor * N * k) / E)) : Infinity;
  for (let j = 0; j < k; j++) {
    for (let n = 0; n < N; n++) {
      const e = choices[n][j];
      if (counts[e] >= C) {
        kept[n][j] = false;
        dropped[e]++;
      }
      counts[e]++;
    }
  }
  const expert = (e: number, n: number): number[] => {
    const h = new Array(f).fill(0);
    for (let r = 0; r < f; r++) {
      let a = 0;
      let b = 0;
      for (let i = 0; i < d; i++) {
        a += W1[(e * f + r) * d + i] * X[n * d + i];
        if (W3) b += W3[(e * f + r) * d + i] * X[n * d + i];
      }
      h[r] = W3 ? silu(a) * b : gelu(a);
    }
    return Array.from({ length: d }, (_, c) => {
      let s = 0;
      for (let r = 0; r < f; r++) s += W2[(e * d + c) * f + r] * h[r];
      return s;
    });
  };
  const out = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < k; j++) {
      if (!kept[n][j]) continue;
      const y = expert(choices[n][j], n);
      for (let c = 0; c < d; c++) out[n * d + c] += gates[n][j] * y[c];
    }
  }
  return { out, counts, dropped };
}
