import type { View } from '../../backend.js';

/**
 * Storage offsets of every element of a strided view, in row-major order of its shape.
 * Kernels on the CPU reference backend favour obviously-correct loops over clever ones; this
 * one materialises the offsets so each kernel is a flat loop.
 */
export function offsetsOf(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  let size = 1;
  for (const d of shape) size *= d;
  const out = new Int32Array(size);
  if (size === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    out[0] = offset;
    return out;
  }
  const idx = new Array<number>(nd).fill(0);
  let off = offset;
  const last = nd - 1;
  const lastDim = shape[last];
  const lastStride = strides[last];
  let i = 0;
  while (i < size) {
    for (let j = 0; j < lastDim; j++) out[i++] = off + j * lastStride;
    // advance the odometer over the leading dims
    let d = last - 1;
    while (d >= 0) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

/** Offsets of a {@link View}. */
export function viewOffsets(v: View): Int32Array {
  return offsetsOf(v.shape, v.strides, v.offset);
}

/** True when the view is the row-major layout starting at `offset` (so offsets are offset+i). */
export function isDense(v: View): boolean {
  let expected = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== expected) return false;
    expected *= v.shape[i];
  }
  return true;
}
