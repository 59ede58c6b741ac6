import { fmtShape, ShapeError } from './errors.js';

/** A tensor shape: one non-negative integer per dimension. `[]` is a scalar. */
export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides, in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** True when `strides` are the row-major strides of `shape` (size-1 dims may have any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Validates a user-provided shape. */
export function checkShape(shape: readonly number[], op: string): number[] {
  if (!Array.isArray(shape))
    throw new ShapeError(`${op}: shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(
        `${op}: invalid shape ${fmtShape(shape)}: every dimension must be a non-negative integer`,
      );
    }
  }
  return [...shape];
}

/** Normalises a possibly negative axis for a tensor of rank `ndim`. */
export function normAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -Math.max(ndim, 1) || axis >= Math.max(ndim, 1)) {
    throw new ShapeError(
      `${op}: axis ${axis} is out of range for a tensor of rank ${ndim} (valid: ${-ndim}..${ndim - 1})`,
    );
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Normalises a list of axes (undefined = all axes); rejects duplicates. Returned sorted. */
export function normAxes(axes: number | readonly number[] | undefined, ndim: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => normAxis(a, ndim, op));
  if (new Set(out).size !== out.length) throw new ShapeError(`${op}: repeated axis in [${list.join(',')}]`);
  return out.sort((a, b) => a - b);
}

/** NumPy broadcasting of two or more shapes. Throws a ShapeError naming the op and shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = ndim - s.length + i;
      const d = s[i];
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) {
        out[o] = d;
        continue;
      }
      throw new ShapeError(
        `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dimension ${o}: ${out[o]} vs ${d}); make them equal or 1`,
      );
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if broadcast to `target` (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) {
    out[lead + i] = shape[i] === 1 && target[lead + i] !== 1 ? 0 : strides[i];
  }
  return out;
}

/**
 * Merges adjacent dimensions that every operand walks in lock-step, so kernels loop over fewer
 * dimensions. `stridesList` holds one stride array per operand (output first, typically).
 * Returns the collapsed shape and strides; size-1 dimensions are dropped.
 */
export function collapseDims(
  shape: Shape,
  stridesList: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const keep: number[] = [];
  for (let i = 0; i < shape.length; i++) if (shape[i] !== 1) keep.push(i);
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (const i of keep) {
    const last = outShape.length - 1;
    if (last >= 0 && stridesList.every((st, k) => outStrides[k][last] === st[i] * shape[i])) {
      outShape[last] *= shape[i];
      for (let k = 0; k < stridesList.length; k++) outStrides[k][last] = stridesList[k][i];
      continue;
    }
    outShape.push(shape[i]);
    for (let k = 0; k < stridesList.length; k++) outStrides[k].push(stridesList[k][i]);
  }
  return { shape: outShape, strides: outStrides };
}

/** Resolves one `-1` in a reshape target and checks the element count. */
export function inferReshape(from: Shape, to: readonly number[], op: string): number[] {
  const size = sizeOf(from);
  const out = [...to];
  const neg = out.indexOf(-1);
  if (neg !== out.lastIndexOf(-1)) throw new ShapeError(`${op}: at most one -1 allowed in ${fmtShape(to)}`);
  for (const d of out) {
    if (d !== -1 && (!Number.isInteger(d) || d < 0))
      throw new ShapeError(`${op}: invalid target shape ${fmtShape(to)}`);
  }
  if (neg >= 0) {
    const rest = sizeOf(out.filter((d) => d !== -1));
    if (rest === 0 || size % rest !== 0) {
      throw new ShapeError(`${op}: cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(to)}`);
    }
    out[neg] = size / rest;
  }
  if (sizeOf(out) !== size) {
    throw new ShapeError(
      `${op}: cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(to)} (${sizeOf(out)} elements)`,
    );
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as `to` without copying, or null when a copy is needed
 * (the algorithm splits/merges runs of dimensions that are contiguous with each other).
 */
export function viewStrides(shape: Shape, strides: readonly number[], to: Shape): number[] | null {
  if (sizeOf(shape) === 0) return contiguousStrides(to);
  const src: { d: number; s: number }[] = [];
  for (let i = 0; i < shape.length; i++) if (shape[i] !== 1) src.push({ d: shape[i], s: strides[i] });
  const out = new Array<number>(to.length).fill(0);
  let si = 0;
  let ti = 0;
  while (ti < to.length || si < src.length) {
    // skip size-1 target dims (stride is irrelevant)
    if (ti < to.length && to[ti] === 1) {
      out[ti] = 1;
      ti++;
      continue;
    }
    if (si >= src.length || ti >= to.length) return null;
    // take a chunk of source dims that is internally contiguous and matches a chunk of target dims
    let srcSize = src[si].d;
    let tgtSize = to[ti];
    const srcStart = si;
    const tgtStart = ti;
    while (srcSize !== tgtSize) {
      if (srcSize < tgtSize) {
        si++;
        if (si >= src.length) return null;
        if (src[si - 1].s !== src[si].s * src[si].d) return null;
        srcSize *= src[si].d;
      } else {
        ti++;
        if (ti >= to.length) return null;
        tgtSize *= to[ti];
      }
    }
    for (let k = srcStart; k < si; k++) if (src[k].s !== src[k + 1].s * src[k + 1].d) return null;
    // assign target strides within the chunk from the innermost source stride
    let stride = src[si].s;
    for (let k = ti; k >= tgtStart; k--) {
      out[k] = stride;
      stride *= to[k];
    }
    si++;
    ti++;
  }
  return out;
}
