import type {
  AdamWScalars,
  AttentionArgs,
  AttentionGrads,
  AttentionSaved,
  Backend,
  BackendInfo,
  BackendMemory,
  BinaryOp,
  MatmulActivation,
  MatmulEpilogue,
  RandomParams,
  ReduceOp,
  UnaryOp,
  UnaryParams,
  View,
} from '../../backend.js';
import { allocHost, type DType, type HostArray, hostItemSize, isFloat, roundToFloat16 } from '../../dtype.js';
import { bitsToUniform, randomBits, SECOND_STREAM } from '../../random.js';
import * as epilogue from './epilogue.js';
import * as fused from './fused.js';
import * as grouped from './grouped.js';
import { binaryFn, unaryFn } from './math.js';
import { isDense, viewOffsets } from './strided.js';

type Buf = HostArray;

/**
 * The CPU reference backend: plain TypeScript over typed arrays, computing in float64 and
 * storing in the tensor's dtype. It defines Kiln's semantics; every other backend is tested
 * against it. It favours obviously-correct code over speed (except matmul, which is blocked so
 * small models train on it in tests).
 */
export class CpuBackend implements Backend<Buf> {
  readonly name = 'cpu';
  readonly info: BackendInfo = {
    name: 'cpu',
    device: `JavaScript (${typeof navigator !== 'undefined' && navigator.userAgent ? navigator.userAgent : 'reference'})`,
    features: [],
    limits: {},
    dtypes: ['float32', 'float16', 'int32', 'uint32', 'bool'],
  };
  #allocatedBytes = 0;
  #live = 0;
  #sizes = new WeakMap<Buf, number>();

  allocate(dtype: DType, size: number): Buf {
    const buf = allocHost(dtype, size);
    const bytes = size * hostItemSize(dtype);
    this.#sizes.set(buf, bytes);
    this.#allocatedBytes += bytes;
    this.#live++;
    return buf;
  }
  release(storage: Buf): void {
    this.#allocatedBytes -= this.#sizes.get(storage) ?? 0;
    this.#live--;
  }
  upload(storage: Buf, dtype: DType, data: HostArray): void {
    if (dtype === 'float16') {
      for (let i = 0; i < data.length; i++) storage[i] = roundToFloat16(data[i]);
    } else {
      storage.set(data);
    }
  }
  async download(storage: Buf, _dtype: DType, size: number): Promise<HostArray> {
    return storage.slice(0, size) as HostArray;
  }
  async sync(): Promise<void> {}
  memory(): BackendMemory {
    return {
      allocatedBytes: this.#allocatedBytes,
      pooledBytes: 0,
      liveBuffers: this.#live,
      pooledBuffers: 0,
    };
  }
  destroy(): void {}

  /** Writes computed values to `out` at `i`, rounding float16. */
  #store(out: View<Buf>, offs: Int32Array | null, i: number, v: number): void {
    const o = offs ? offs[i] : out.offset + i;
    out.storage[o] = out.dtype === 'float16' ? roundToFloat16(v) : out.dtype === 'bool' ? (v ? 1 : 0) : v;
  }

  #outOffsets(out: View<Buf>): Int32Array | null {
    return isDense(out) ? null : viewOffsets(out);
  }

  fill(out: View<Buf>, value: number): void {
    const offs = this.#outOffsets(out);
    const n = sizeOf(out);
    for (let i = 0; i < n; i++) this.#store(out, offs, i, value);
  }

  copy(src: View<Buf>, dst: View<Buf>): void {
    const so = viewOffsets(src);
    const doffs = this.#outOffsets(dst);
    const convert = castFn(src.dtype, dst.dtype);
    for (let i = 0; i < so.length; i++) this.#store(dst, doffs, i, convert(src.storage[so[i]]));
  }

  unary(op: UnaryOp, x: View<Buf>, out: View<Buf>, params?: UnaryParams): void {
    const f = unaryFn(op, params, !isFloat(x.dtype) && x.dtype !== 'bool');
    const xo = viewOffsets(x);
    for (let i = 0; i < xo.length; i++) out.storage[out.offset + i] = finish(out.dtype, f(x.storage[xo[i]]));
  }

  binary(op: BinaryOp, a: View<Buf>, b: View<Buf>, out: View<Buf>): void {
    const f = binaryFn(op, !isFloat(a.dtype) && a.dtype !== 'bool');
    const ao = viewOffsets(a);
    const bo = viewOffsets(b);
    for (let i = 0; i < ao.length; i++)
      out.storage[out.offset + i] = finish(out.dtype, f(a.storage[ao[i]], b.storage[bo[i]]));
  }

  where(cond: View<Buf>, a: View<Buf>, b: View<Buf>, out: View<Buf>): void {
    const co = viewOffsets(cond);
    const ao = viewOffsets(a);
    const bo = viewOffsets(b);
    for (let i = 0; i < co.length; i++)
      out.storage[out.offset + i] = cond.storage[co[i]] ? a.storage[ao[i]] : b.storage[bo[i]];
  }

  reduce(op: ReduceOp, x: View<Buf>, reducedDims: number, out: View<Buf>): void {
    const xo = viewOffsets(x);
    const R = x.shape.slice(x.shape.length - reducedDims).reduce((p, d) => p * d, 1);
    const O = sizeOf(out);
    const src = x.storage;
    for (let o = 0; o < O; o++) {
      const base = o * R;
      let acc: number;
      switch (op) {
        case 'sum':
        case 'mean':
          acc = 0;
          for (let r = 0; r < R; r++) acc += src[xo[base + r]];
          if (op === 'mean') acc /= R;
          break;
        case 'prod':
          acc = 1;
          if (isFloat(x.dtype)) for (let r = 0; r < R; r++) acc *= src[xo[base + r]];
          else for (let r = 0; r < R; r++) acc = Math.imul(acc, src[xo[base + r]]); // wraps like the GPU
          break;
        case 'max':
        case 'min': {
          acc = src[xo[base]];
          for (let r = 1; r < R; r++) {
            const v = src[xo[base + r]];
            if (Number.isNaN(v) || (op === 'max' ? v > acc : v < acc)) acc = v;
            if (Number.isNaN(acc)) break;
          }
          break;
        }
        case 'argmax':
        case 'argmin': {
          // first occurrence wins ties; the first NaN wins outright (as PyTorch)
          let best = src[xo[base]];
          acc = 0;
          for (let r = 1; r < R && !Number.isNaN(best); r++) {
            const v = src[xo[base + r]];
            if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) {
              best = v;
              acc = r;
            }
          }
          break;
        }
      }
      out.storage[out.offset + o] = finish(out.dtype, acc);
    }
  }

  cumsum(x: View<Buf>, out: View<Buf>): void {
    const xo = viewOffsets(x);
    const n = x.shape[x.shape.length - 1];
    const integer = !isFloat(x.dtype);
    for (let base = 0; base < xo.length; base += n) {
      let acc = 0;
      for (let j = 0; j < n; j++) {
        acc += x.storage[xo[base + j]];
        if (integer) acc |= 0;
        out.storage[out.offset + base + j] = finish(out.dtype, acc);
      }
    }
  }

  matmul(a: View<Buf>, b: View<Buf>, out: View<Buf>): void {
    const [B, M, K] = a.shape;
    const N = b.shape[2];
    const A = a.storage;
    const Bs = b.storage;
    const row = new Float64Array(N);
    const f16 = out.dtype === 'float16';
    for (let bi = 0; bi < B; bi++) {
      const aBase = a.offset + bi * a.strides[0];
      const bBase = b.offset + bi * b.strides[0];
      for (let i = 0; i < M; i++) {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const aik = A[aBase + i * a.strides[1] + k * a.strides[2]];
          if (aik === 0) continue;
          const bk = bBase + k * b.strides[1];
          const bs = b.strides[2];
          if (bs === 1) {
            for (let j = 0; j < N; j++) row[j] += aik * Bs[bk + j];
          } else {
            for (let j = 0; j < N; j++) row[j] += aik * Bs[bk + j * bs];
          }
        }
        const o = out.offset + (bi * M + i) * N;
        for (let j = 0; j < N; j++) out.storage[o + j] = f16 ? roundToFloat16(row[j]) : row[j];
      }
    }
  }

  /** The plain matmul, then the epilogue over its stored (rounded) result: identical to composing. */
  matmulEpilogue(a: View<Buf>, b: View<Buf>, out: View<Buf>, ep: MatmulEpilogue<Buf>): void {
    this.matmul(a, b, out);
    epilogue.applyEpilogue(out, ep);
  }

  activationBackward(activation: MatmulActivation, pre: View<Buf>, gradOut: View<Buf>, out: View<Buf>): void {
    epilogue.activationBackward(activation, pre, gradOut, out);
  }

  gather(x: View<Buf>, axis: number, index: View<Buf>, out: View<Buf>): void {
    // walk the index view; the x position has the same coordinates except along `axis`
    const io = viewOffsets(index);
    const coordOffsets = viewOffsets({
      ...x,
      shape: index.shape,
      strides: x.strides.map((s, d) => (d === axis ? 0 : s)),
    });
    for (let i = 0; i < io.length; i++) {
      out.storage[out.offset + i] = x.storage[coordOffsets[i] + index.storage[io[i]] * x.strides[axis]];
    }
  }

  indexSelect(x: View<Buf>, axis: number, index: View<Buf>, out: View<Buf>): void {
    const io = viewOffsets(index);
    const shape = [...x.shape];
    shape[axis] = io.length;
    const strides = [...x.strides];
    strides[axis] = 0;
    const base = viewOffsets({ ...x, shape, strides });
    const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    for (let i = 0; i < base.length; i++) {
      const j = Math.floor(i / inner) % io.length;
      out.storage[out.offset + i] = x.storage[base[i] + index.storage[io[j]] * x.strides[axis]];
    }
  }

  scatterAdd(out: View<Buf>, axis: number, index: View<Buf>, src: View<Buf>): void {
    const io = viewOffsets(index);
    const so = viewOffsets(src);
    const coordOffsets = viewOffsets({
      ...out,
      shape: index.shape,
      strides: out.strides.map((s, d) => (d === axis ? 0 : s)),
    });
    for (let i = 0; i < io.length; i++) {
      const o = coordOffsets[i] + index.storage[io[i]] * out.strides[axis];
      out.storage[o] = finish(out.dtype, out.storage[o] + src.storage[so[i]]);
    }
  }

  random(out: View<Buf>, p: RandomParams): void {
    const n = sizeOf(out);
    const [s0, s1] = p.seed;
    const baseLo = p.counter % 2 ** 32;
    const baseHi = Math.floor(p.counter / 2 ** 32);
    for (let i = 0; i < n; i++) {
      const c = baseLo + i;
      const lo = c >>> 0;
      const hi = (baseHi + (c >= 2 ** 32 ? 1 : 0)) >>> 0;
      const bits = randomBits(s0, s1, lo, hi);
      let v: number;
      if (p.kind === 'uniform') {
        const low = p.low ?? 0;
        const high = p.high ?? 1;
        v = low + (high - low) * bitsToUniform(bits);
      } else if (p.kind === 'normal') {
        const bits2 = randomBits(s0, (s1 ^ SECOND_STREAM) >>> 0, lo, hi);
        const u1 = ((bits >>> 8) + 1) * 2 ** -24; // (0, 1]: log stays finite
        const u2 = bitsToUniform(bits2);
        v = (p.mean ?? 0) + (p.std ?? 1) * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      } else {
        const range = (p.high ?? 0) - (p.low ?? 0);
        v = (p.low ?? 0) + (range >= 2 ** 32 ? bits : bits % range);
      }
      out.storage[out.offset + i] = finish(out.dtype, v);
    }
  }

  topk(x: View<Buf>, k: number, largest: boolean, values: View<Buf>, indices: View<Buf>): void {
    const n = x.shape[x.shape.length - 1];
    const rows = n === 0 ? 0 : sizeOf(x) / n;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let r = 0; r < rows; r++) {
      const base = x.offset + r * n;
      const v = (i: number) => x.storage[base + i];
      // sort descending (or ascending); NaN counts as largest; ties keep the lower index first
      order.sort((i, j) => {
        const a = v(i);
        const b = v(j);
        const an = Number.isNaN(a);
        const bn = Number.isNaN(b);
        if (an || bn) return an && bn ? i - j : largest ? (an ? -1 : 1) : an ? 1 : -1;
        return a === b ? i - j : largest ? b - a : a - b;
      });
      for (let j = 0; j < k; j++) {
        values.storage[values.offset + r * k + j] = v(order[j]);
        indices.storage[indices.offset + r * k + j] = order[j];
      }
      for (let i = 0; i < n; i++) order[i] = i;
    }
  }

  softmax(x: View<Buf>, out: View<Buf>, log: boolean): void {
    const n = x.shape[x.shape.length - 1];
    const rows = n === 0 ? 0 : sizeOf(x) / n;
    for (let r = 0; r < rows; r++) {
      const base = x.offset + r * n;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < n; j++) m = Math.max(m, x.storage[base + j]);
      if (!Number.isFinite(m)) m = 0;
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x.storage[base + j] - m);
      const ls = Math.log(s);
      for (let j = 0; j < n; j++) {
        const z = x.storage[base + j] - m;
        out.storage[out.offset + r * n + j] = finish(out.dtype, log ? z - ls : Math.exp(z) / s);
      }
    }
  }

  layerNorm(
    x: View<Buf>,
    weight: View<Buf> | null,
    bias: View<Buf> | null,
    eps: number,
    out: View<Buf>,
  ): void {
    this.#norm(x, weight, bias, eps, out, true);
  }

  rmsNorm(x: View<Buf>, weight: View<Buf> | null, eps: number, out: View<Buf>): void {
    this.#norm(x, weight, null, eps, out, false);
  }

  #norm(
    x: View<Buf>,
    weight: View<Buf> | null,
    bias: View<Buf> | null,
    eps: number,
    out: View<Buf>,
    center: boolean,
  ): void {
    const n = x.shape[x.shape.length - 1];
    const rows = n === 0 ? 0 : sizeOf(x) / n;
    const w = weight ? viewOffsets(weight) : null;
    const bo = bias ? viewOffsets(bias) : null;
    for (let r = 0; r < rows; r++) {
      const base = x.offset + r * n;
      let mu = 0;
      if (center) {
        for (let j = 0; j < n; j++) mu += x.storage[base + j];
        mu /= n;
      }
      let v = 0;
      for (let j = 0; j < n; j++) v += (x.storage[base + j] - mu) ** 2;
      const rstd = 1 / Math.sqrt(v / n + eps);
      for (let j = 0; j < n; j++) {
        let y = (x.storage[base + j] - mu) * rstd;
        if (w) y *= weight!.storage[w[j]];
        if (bo) y += bias!.storage[bo[j]];
        out.storage[out.offset + r * n + j] = finish(out.dtype, y);
      }
    }
  }

  crossEntropy(logits: View<Buf>, targets: View<Buf>, ignoreIndex: number, out: View<Buf>): void {
    const [N, C] = logits.shape;
    for (let r = 0; r < N; r++) {
      const t = targets.storage[targets.offset + r];
      if (t === ignoreIndex) {
        out.storage[out.offset + r] = 0;
        continue;
      }
      const base = logits.offset + r * C;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < C; j++) m = Math.max(m, logits.storage[base + j]);
      let s = 0;
      for (let j = 0; j < C; j++) s += Math.exp(logits.storage[base + j] - m);
      out.storage[out.offset + r] = finish(out.dtype, m + Math.log(s) - logits.storage[base + t]);
    }
  }
  // Fused training kernels: the reference loops live in fused.ts.
  crossEntropyBackward(
    logits: View<Buf>,
    targets: View<Buf>,
    scale: View<Buf>,
    ignoreIndex: number,
    out: View<Buf>,
  ): void {
    fused.crossEntropyBackward(logits, targets, scale, ignoreIndex, out);
  }

  softmaxBackward(y: View<Buf>, g: View<Buf>, log: boolean, out: View<Buf>): void {
    fused.softmaxBackward(y, g, log, out);
  }

  attention(args: AttentionArgs<View<Buf>>, out: View<Buf>, lse: View<Buf>): void {
    fused.attention(args, out, lse);
  }

  attentionBackward(
    args: AttentionArgs<View<Buf>>,
    saved: AttentionSaved<View<Buf>>,
    grads: AttentionGrads<View<Buf>>,
  ): void {
    fused.attentionBackward(args, saved, grads);
  }

  normBackward(
    x: View<Buf>,
    weight: View<Buf> | null,
    g: View<Buf>,
    eps: number,
    center: boolean,
    dx: View<Buf>,
    stats: View<Buf>,
    dw: View<Buf> | null,
    db: View<Buf> | null,
  ): void {
    fused.normBackward(x, weight, g, eps, center, dx, stats, dw, db);
  }

  groupedMatmul(x: View<Buf>, w: View<Buf>, ends: View<Buf>, out: View<Buf>): void {
    grouped.groupedMatmul(x, w, ends, out);
  }
  groupedOuter(x: View<Buf>, y: View<Buf>, ends: View<Buf>, out: View<Buf>): void {
    grouped.groupedOuter(x, y, ends, out);
  }
  dispatchRows(x: View<Buf>, slots: View<Buf>, gates: View<Buf> | null, out: View<Buf>): void {
    grouped.dispatchRows(x, slots, gates, out);
  }
  combineRows(y: View<Buf>, slots: View<Buf>, gates: View<Buf> | null, out: View<Buf>): void {
    grouped.combineRows(y, slots, gates, out);
  }
  slotDots(x: View<Buf>, y: View<Buf>, slots: View<Buf>, out: View<Buf>): void {
    grouped.slotDots(x, y, slots, out);
  }
  embeddingBackward(g: View<Buf>, index: View<Buf>, scratch: View<Buf>, out: View<Buf>): void {
    fused.embeddingBackward(g, index, scratch, out);
  }

  adamwUpdate(
    param: View<Buf>,
    grad: View<Buf>,
    m: View<Buf>,
    v: View<Buf>,
    s: AdamWScalars,
    control?: View<Buf>,
  ): void {
    fused.adamwUpdate(param, grad, m, v, s, control);
  }
}

function sizeOf(v: View): number {
  let n = 1;
  for (const d of v.shape) n *= d;
  return n;
}

/** Rounds float16 results; other dtypes are converted by the typed array on store. */
function finish(dtype: DType, v: number): number {
  if (dtype === 'float16') return roundToFloat16(v);
  if (dtype === 'bool') return v ? 1 : 0;
  return v;
}

/** Value conversion for `copy` between dtypes: float→int truncates toward zero and saturates (as WGSL does). */
function castFn(from: DType, to: DType): (v: number) => number {
  if (to === 'bool') return (v) => (v !== 0 ? 1 : 0); // NaN is true, as in PyTorch
  if (isFloat(from) && to === 'int32')
    return (v) => (Number.isNaN(v) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(v))));
  if (isFloat(from) && to === 'uint32')
    return (v) => (Number.isNaN(v) ? 0 : Math.max(0, Math.min(4294967295, Math.trunc(v))));
  if (from === 'int32' && to === 'uint32') return (v) => v >>> 0;
  if (from === 'uint32' && to === 'int32') return (v) => v | 0;
  return (v) => v;
}
