/**
 * CPU reference kernels of the fused training ops (`ops/*-backward.ts`, `ops/attention.ts`,
 * `ops/adamw-update.ts`): plain loops in float64, rounded only when stored. They define the
 * semantics the WebGPU kernels are tested against.
 */
import type {
  AdamWScalars,
  AttentionArgs,
  AttentionGrads,
  AttentionMask,
  AttentionSaved,
  View,
} from '../../backend.js';
import { type HostArray, roundToFloat16 } from '../../dtype.js';

type V = View<HostArray>;

/** Rounding that a store into `out` applies (none for the float64 storage of gradCheck). */
export function rounder(out: V): (x: number) => number {
  if (out.storage instanceof Float64Array) return (x) => x;
  if (out.dtype === 'float16') return roundToFloat16;
  return Math.fround;
}

export function crossEntropyBackward(logits: V, targets: V, scale: V, ignoreIndex: number, out: V): void {
  const [N, C] = logits.shape;
  const x = logits.storage;
  const r = rounder(out);
  for (let row = 0; row < N; row++) {
    const base = logits.offset + row * C;
    const outBase = out.offset + row * C;
    const t = targets.storage[targets.offset + row];
    if (t === ignoreIndex) {
      for (let c = 0; c < C; c++) out.storage[outBase + c] = 0;
      continue;
    }
    const g = scale.storage[scale.offset + row * scale.strides[0]];
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) m = Math.max(m, x[base + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[base + c] - m);
    for (let c = 0; c < C; c++)
      out.storage[outBase + c] = r((Math.exp(x[base + c] - m) / s - (c === t ? 1 : 0)) * g);
  }
}

export function softmaxBackward(y: V, g: V, log: boolean, out: V): void {
  const n = y.shape[y.shape.length - 1];
  const rows = n === 0 ? 0 : y.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const r = rounder(out);
  for (let row = 0; row < rows; row++) {
    const [yb, gb, ob] = [y.offset + row * n, g.offset + row * n, out.offset + row * n];
    let s = 0;
    for (let c = 0; c < n; c++) s += log ? g.storage[gb + c] : g.storage[gb + c] * y.storage[yb + c];
    for (let c = 0; c < n; c++) {
      const yv = y.storage[yb + c];
      const gv = g.storage[gb + c];
      out.storage[ob + c] = r(log ? gv - Math.exp(yv) * s : yv * (gv - s));
    }
  }
}

/** Shapes and index helpers shared by the attention kernels. */
function attentionDims(q: V, k: V) {
  const [B, H, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  return { B, H, Tq, D, Hkv, Tk, G: H / Hkv };
}

/** The keys [lo, hi) query i of batch row b sees: its range, or every key subject to the causal rule. */
function visibleKeys(mask: AttentionMask<V>, b: number, i: number, Tq: number, Tk: number): [number, number] {
  const ranges = mask.ranges?.keys;
  if (ranges) {
    const at = ranges.offset + (b * Tq + i) * 2;
    return [ranges.storage[at], ranges.storage[at + 1]];
  }
  return [0, mask.causal ? Math.min(Tk, i + Tk - Tq + 1) : Tk];
}

function dot(a: HostArray, ai: number, b: HostArray, bi: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) s += a[ai + d] * b[bi + d];
  return s;
}

export function attention({ q, k, v, scale, mask }: AttentionArgs<V>, out: V, lse: V): void {
  const { B, H, Tq, D, Hkv, Tk, G } = attentionDims(q, k);
  const r = rounder(out);
  const scores = new Float64Array(Tk);
  const acc = new Float64Array(D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Tk * D;
      for (let i = 0; i < Tq; i++) {
        const row = (b * H + h) * Tq + i;
        const [lo, hi] = visibleKeys(mask, b, i, Tq, Tk);
        if (hi <= lo) {
          // sees no key: output 0 and log-sum-exp −∞
          for (let d = 0; d < D; d++) out.storage[out.offset + row * D + d] = 0;
          lse.storage[lse.offset + row] = Number.NEGATIVE_INFINITY;
          continue;
        }
        let m = Number.NEGATIVE_INFINITY;
        for (let j = lo; j < hi; j++) {
          scores[j] = scale * dot(q.storage, q.offset + row * D, k.storage, k.offset + kvBase + j * D, D);
          m = Math.max(m, scores[j]);
        }
        let l = 0;
        acc.fill(0);
        for (let j = lo; j < hi; j++) {
          const p = Math.exp(scores[j] - m);
          l += p;
          for (let d = 0; d < D; d++) acc[d] += p * v.storage[v.offset + kvBase + j * D + d];
        }
        for (let d = 0; d < D; d++) out.storage[out.offset + row * D + d] = r(acc[d] / l);
        lse.storage[lse.offset + row] = r(m + Math.log(l));
      }
    }
}

export function attentionBackward(
  { q, k, v, scale, mask }: AttentionArgs<V>,
  { lse, delta, gradOut }: AttentionSaved<V>,
  { dq, dk, dv }: AttentionGrads<V>,
): void {
  const { B, H, Tq, D, Hkv, Tk, G } = attentionDims(q, k);
  const r = rounder(dq);
  const dqAcc = new Float64Array(D);
  const dkAcc = new Float64Array(B * Hkv * Tk * D);
  const dvAcc = new Float64Array(B * Hkv * Tk * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Tk * D;
      for (let i = 0; i < Tq; i++) {
        const row = (b * H + h) * Tq + i;
        const [qi, gi] = [q.offset + row * D, gradOut.offset + row * D];
        const L = lse.storage[lse.offset + row];
        const dl = delta.storage[delta.offset + row];
        const [lo, hi] = visibleKeys(mask, b, i, Tq, Tk);
        dqAcc.fill(0);
        for (let j = lo; j < hi; j++) {
          const kj = kvBase + j * D;
          const p = Math.exp(scale * dot(q.storage, qi, k.storage, k.offset + kj, D) - L);
          const ds = p * (dot(gradOut.storage, gi, v.storage, v.offset + kj, D) - dl);
          for (let d = 0; d < D; d++) {
            dqAcc[d] += ds * k.storage[k.offset + kj + d];
            dkAcc[kj + d] += ds * q.storage[qi + d];
            dvAcc[kj + d] += p * gradOut.storage[gi + d];
          }
        }
        for (let d = 0; d < D; d++) dq.storage[dq.offset + row * D + d] = r(scale * dqAcc[d]);
      }
    }
  for (let e = 0; e < dkAcc.length; e++) {
    dk.storage[dk.offset + e] = r(scale * dkAcc[e]);
    dv.storage[dv.offset + e] = r(dvAcc[e]);
  }
}

/**
 * AdamW in place, rounding after every operation exactly where the composite sequence of tensor
 * ops in `adamwUpdate` stores (scalars included, which become tensors of the dtype), so the two
 * agree bit for bit.
 */
export function adamwUpdate(p: V, g: V, m: V, v: V, s: AdamWScalars, control?: V): void {
  const r = rounder(p);
  const [b1, omb1, b2, omb2] = [r(s.beta1), r(s.oneMinusBeta1), r(s.beta2), r(s.oneMinusBeta2)];
  let [stepSize, sqrtC2] = [r(s.stepSize), r(s.sqrtC2)];
  if (control) {
    // the device-controlled step (see Backend.adamwUpdate): skip, or bias corrections from `step`
    if (control.storage[control.offset] !== 0) return;
    const t = control.storage[control.offset + 1];
    if (t !== s.step) {
      stepSize = r(s.lr / (1 - s.beta1 ** t));
      sqrtC2 = r(Math.sqrt(1 - s.beta2 ** t));
    }
  }
  const [decay, eps] = [r(s.decay), r(s.eps)];
  const n = p.shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const gi = g.storage[g.offset + i];
    const mn = r(r(m.storage[m.offset + i] * b1) + r(gi * omb1));
    const vn = r(r(v.storage[v.offset + i] * b2) + r(r(gi * gi) * omb2));
    const denom = r(r(r(Math.sqrt(vn)) / sqrtC2) + eps);
    m.storage[m.offset + i] = mn;
    v.storage[v.offset + i] = vn;
    p.storage[p.offset + i] = r(r(p.storage[p.offset + i] * decay) - r(r(mn / denom) * stepSize));
  }
}

export function normBackward(
  x: V,
  weight: V | null,
  g: V,
  eps: number,
  center: boolean,
  dx: V,
  stats: V,
  dw: V | null,
  db: V | null,
): void {
  const n = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const r = rounder(dx);
  const w = (c: number) => (weight ? weight.storage[weight.offset + c * weight.strides[0]] : 1);
  const sw = new Float64Array(n);
  const sb = new Float64Array(n);
  for (let row = 0; row < rows; row++) {
    const [xb, gb] = [x.offset + row * n, g.offset + row * n];
    let mu = 0;
    if (center) {
      for (let c = 0; c < n; c++) mu += x.storage[xb + c];
      mu /= n;
    }
    let q = 0;
    for (let c = 0; c < n; c++) q += (x.storage[xb + c] - mu) ** 2;
    const rstd = 1 / Math.sqrt(q / n + eps);
    let a = 0;
    let b = 0;
    for (let c = 0; c < n; c++) {
      const gh = g.storage[gb + c] * w(c);
      const xh = (x.storage[xb + c] - mu) * rstd;
      a += gh;
      b += gh * xh;
      sw[c] += g.storage[gb + c] * xh;
      sb[c] += g.storage[gb + c];
    }
    const meanG = center ? a / n : 0;
    for (let c = 0; c < n; c++) {
      const xh = (x.storage[xb + c] - mu) * rstd;
      dx.storage[dx.offset + row * n + c] = r(rstd * (g.storage[gb + c] * w(c) - meanG - (xh * b) / n));
    }
    stats.storage[stats.offset + 2 * row] = mu;
    stats.storage[stats.offset + 2 * row + 1] = rstd;
  }
  for (let c = 0; c < n; c++) {
    if (dw) dw.storage[dw.offset + c] = r(sw[c]);
    if (db) db.storage[db.offset + c] = r(sb[c]);
  }
}

export function embeddingBackward(g: V, index: V, _scratch: V, out: V): void {
  const [N, D] = g.shape;
  const r = rounder(out);
  const acc = new Float64Array(out.shape[0] * D);
  for (let i = 0; i < N; i++) {
    const id = index.storage[index.offset + i];
    for (let c = 0; c < D; c++) acc[id * D + c] += g.storage[g.offset + i * D + c];
  }
  for (let e = 0; e < acc.length; e++) out.storage[out.offset + e] = r(acc[e]);
}
