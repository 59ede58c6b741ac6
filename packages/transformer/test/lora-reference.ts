/**
 * Float64 host references for the LoRA tests, written with plain loops (no tensor op of the
 * code under test): matrix products, the activations, and a LoRA linear layer computed from an
 * explicitly materialised `W + s·B·A`.
 */
import { noGrad } from '@kiln/autograd';
import { type Tensor, tensor } from '@kiln/tensor';
import type { GPT } from '../src/index.js';
import { LoRALinear } from '../src/index.js';

/** Row-major `[m, k] · [k, n]` in float64. */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      for (let j = 0; j < n; j++) out[i * n + j] += av * b[p * n + j];
    }
  return out;
}

/** `[r, c]` → `[c, r]`. */
export function transpose(a: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

export type Activation = 'none' | 'geluTanh' | 'silu';

/** The activations, as their definitions write them. */
export function act(x: number, activation: Activation): number {
  if (activation === 'geluTanh')
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  if (activation === 'silu') return x / (1 + Math.exp(-x));
  return x;
}

/** The host values of a tensor as float64. */
export async function host(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** `W + s·B·A` on each adapter's `rows` of `W [out, in]`, as a new array. */
export function mergedWeight(
  W: ArrayLike<number>,
  inF: number,
  adapters: {
    A: ArrayLike<number>;
    B: ArrayLike<number>;
    rows: readonly [number, number];
    scale: number;
    rank: number;
  }[],
): Float64Array {
  const merged = Float64Array.from(W);
  for (const { A, B, rows, scale, rank } of adapters) {
    const n = rows[1] - rows[0];
    const BA = matmul(B, A, n, rank, inF);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < inF; j++) merged[(rows[0] + i) * inF + j] += scale * BA[i * inF + j];
  }
  return merged;
}

/** Host values of a LoRA layer's adapters, each with the scale the test expects (not the layer's own). */
export async function adapterValues(layer: LoRALinear, scale: number) {
  return Promise.all(
    layer.adapters().map(async ([, a]) => ({
      A: await host(a.A),
      B: await host(a.B),
      rows: a.rows,
      scale,
      rank: a.A.shape[0],
    })),
  );
}

/** `act(x (W + s·B·A)ᵀ + b)` for `x [m, in]`, in float64 from the layer's current values. */
export async function referenceForward(
  layer: LoRALinear,
  x: ArrayLike<number>,
  m: number,
  activation: Activation,
  scale: number,
): Promise<Float64Array> {
  const { inFeatures: inF, outFeatures: out } = layer;
  const W = mergedWeight(await host(layer.weight), inF, await adapterValues(layer, scale));
  const y = matmul(x, transpose(W, out, inF), m, inF, out);
  const b = layer.bias ? await host(layer.bias) : null;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < out; j++) y[i * out + j] = act(y[i * out + j] + (b ? b[j] : 0), activation);
  return y;
}

/** Fills every adapter's B with values drawn from `next` (B starts at zero, which would hide it). */
export function randomizeB(model: GPT | LoRALinear, next: () => number): void {
  const layers = model instanceof LoRALinear ? [model] : model.namedModules().map(([, m]) => m);
  noGrad(() => {
    for (const m of layers) {
      if (!(m instanceof LoRALinear)) continue;
      for (const [, a] of m.adapters()) {
        const values = Float32Array.from({ length: a.B.size }, () => next());
        const t = tensor(values, { shape: a.B.shape, backend: a.B.backend });
        a.B.assign(t);
        t.dispose();
      }
    }
  });
}

/**
 * Writes `W + scale·B·A` (computed on the host in float64) into `reference`, a copy of the base
 * model built from the same seed, for every adapter of `model`: the explicit merge the LoRA
 * forward must equal.
 */
export async function explicitMerge(model: GPT, reference: GPT, scale: number): Promise<void> {
  const refModules = new Map(reference.namedModules());
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof LoRALinear)) continue;
    const target = refModules.get(path) as unknown as { weight: Tensor };
    const merged = mergedWeight(await host(m.weight), m.inFeatures, await adapterValues(m, scale));
    noGrad(() => {
      const t = tensor(Float32Array.from(merged), { shape: m.weight.shape, backend: m.weight.backend });
      target.weight.assign(t);
      t.dispose();
    });
  }
}

/** A seeded uniform generator in [-scale, scale) (mulberry32). */
export function uniform(seed: number, scale = 1): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  };
}
