/**
 * CPU reference of the mixture-of-experts kernels (`ops/grouped-matmul.ts`, `ops/slot-rows.ts`):
 * plain loops in float64, rounded only when stored. They define the semantics the WebGPU
 * kernels are tested against. Every operand but the grouped product's weights is contiguous.
 */
import type { View } from '../../backend.js';
import type { HostArray } from '../../dtype.js';
import { rounder } from './fused.js';

type V = View<HostArray>;

/** Group e's rows: [start, end) from the inclusive ends, clamped to [0, rows]. */
function groupRows(ends: V, e: number, rows: number): [number, number] {
  const at = (i: number) => Math.max(0, Math.min(rows, ends.storage[ends.offset + i]));
  const start = e === 0 ? 0 : at(e - 1);
  return [start, Math.max(start, at(e))];
}

/** out[r] = x[r] @ w[e] for the rows r of group e; rows in no group are zero. */
export function groupedMatmul(x: V, w: V, ends: V, out: V): void {
  const [R, K] = x.shape;
  const [E, , M] = w.shape;
  const [sE, sK, sM] = w.strides;
  const r16 = rounder(out);
  const acc = new Float64Array(M);
  out.storage.fill(0, out.offset, out.offset + R * M);
  for (let e = 0; e < E; e++) {
    const [start, end] = groupRows(ends, e, R);
    const wBase = w.offset + e * sE;
    for (let r = start; r < end; r++) {
      const xr = x.offset + r * K;
      if (sK === 1 && sM !== 1) {
        // a transposed nn.Linear stack: each output is a dot product over contiguous memory
        for (let m = 0; m < M; m++) {
          let dot = 0;
          const wm = wBase + m * sM;
          for (let k = 0; k < K; k++) dot += x.storage[xr + k] * w.storage[wm + k];
          acc[m] = dot;
        }
      } else {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const xv = x.storage[xr + k];
          if (xv === 0) continue;
          const wk = wBase + k * sK;
          for (let m = 0; m < M; m++) acc[m] += xv * w.storage[wk + m * sM];
        }
      }
      const o = out.offset + r * M;
      for (let m = 0; m < M; m++) out.storage[o + m] = r16(acc[m]);
    }
  }
}

/** out[e] = x[rows of e]ᵀ @ y[rows of e] ([E, K, M]); an empty group gives zeros. */
export function groupedOuter(x: V, y: V, ends: V, out: V): void {
  const [R, K] = x.shape;
  const M = y.shape[1];
  const E = out.shape[0];
  const r16 = rounder(out);
  const acc = new Float64Array(K * M);
  for (let e = 0; e < E; e++) {
    const [start, end] = groupRows(ends, e, R);
    acc.fill(0);
    for (let r = start; r < end; r++) {
      for (let k = 0; k < K; k++) {
        const xv = x.storage[x.offset + r * K + k];
        if (xv === 0) continue;
        const yb = y.offset + r * M;
        for (let m = 0; m < M; m++) acc[k * M + m] += xv * y.storage[yb + m];
      }
    }
    const o = out.offset + e * K * M;
    for (let i = 0; i < K * M; i++) out.storage[o + i] = r16(acc[i]);
  }
}

/** The gate of pair (n, j), 1 without gates. */
function gate(gates: V | null, i: number): number {
  return gates ? gates.storage[gates.offset + i] : 1;
}

/** out[slots[n, j]] = gates[n, j]·x[n] (out [R, D]); rows no pair names are zero; slot −1 is skipped. */
export function dispatchRows(x: V, slots: V, gates: V | null, out: V): void {
  const [N, D] = x.shape;
  const k = slots.shape[1];
  const R = out.shape[0];
  const r16 = rounder(out);
  out.storage.fill(0, out.offset, out.offset + R * D);
  for (let i = 0; i < N * k; i++) {
    const s = slots.storage[slots.offset + i];
    if (s < 0 || s >= R) continue;
    const n = Math.floor(i / k);
    const g = gate(gates, i);
    // a row named twice sums (the WebGPU kernel requires distinct slots: see ops/slot-rows.ts)
    for (let c = 0; c < D; c++) {
      const o = out.offset + s * D + c;
      out.storage[o] = r16(out.storage[o] + g * x.storage[x.offset + n * D + c]);
    }
  }
}

/** out[n] = Σ_j gates[n, j]·y[slots[n, j]] (out [N, D]); slot −1 adds nothing. */
export function combineRows(y: V, slots: V, gates: V | null, out: V): void {
  const [N, k] = slots.shape;
  const [R, D] = y.shape;
  const r16 = rounder(out);
  const acc = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let j = 0; j < k; j++) {
      const s = slots.storage[slots.offset + n * k + j];
      if (s < 0 || s >= R) continue;
      const g = gate(gates, n * k + j);
      for (let c = 0; c < D; c++) acc[c] += g * y.storage[y.offset + s * D + c];
    }
    for (let c = 0; c < D; c++) out.storage[out.offset + n * D + c] = r16(acc[c]);
  }
}

/** out[n, j] = x[n] · y[slots[n, j]] (out [N, k]); 0 for slot −1. */
export function slotDots(x: V, y: V, slots: V, out: V): void {
  const [N, k] = slots.shape;
  const [R, D] = y.shape;
  const r16 = rounder(out);
  for (let i = 0; i < N * k; i++) {
    const s = slots.storage[slots.offset + i];
    const n = Math.floor(i / k);
    let acc = 0;
    if (s >= 0 && s < R) {
      for (let c = 0; c < D; c++) acc += x.storage[x.offset + n * D + c] * y.storage[y.offset + s * D + c];
    }
    out.storage[out.offset + i] = r16(acc);
  }
}
