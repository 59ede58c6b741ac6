import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { empty, makeView, requireFloat, sameDType } from './util.js';
import { copyContiguous } from './views.js';

/** Reads `t` (already expanded to [...batch, r, c]) as [B, r, c], copying only if the batch dims cannot merge. */
function asBatch3(t: Tensor, batch: number): Tensor {
  const to = [batch, t.shape[t.ndim - 2], t.shape[t.ndim - 1]];
  const strides = viewStrides(t.shape, t.strides, to);
  if (strides) return makeView(t, to, strides, t.offset);
  const c = copyContiguous(t);
  const v = makeView(c, to, viewStrides(c.shape, c.strides, to)!, 0);
  c.dispose();
  return v;
}

/**
 * @internal `t` (read with logical `shape` and `strides`, which may differ from its own for a
 * 1-D operand) broadcast to `full` = [...batchShape, r, c] and read as [batch, r, c]; shared by
 * {@link matmul} and `matmulEpilogue`.
 */
export function broadcastBatch3(
  t: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  full: number[],
  batch: number,
): Tensor {
  const expanded = makeView(t, full, broadcastStrides(shape, strides, full), t.offset);
  try {
    return asBatch3(expanded, batch);
  } finally {
    expanded.dispose();
  }
}

/**
 * Matrix product with NumPy semantics: `[..., m, k] @ [..., k, n]` with broadcast batch
 * dimensions; 1-D operands are treated as a row (left) or column (right) vector and that
 * dimension is dropped from the result. Transposed views are read in place, without a copy.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor))
    throw new TypeError('matmul: both operands must be Tensors');
  requireFloat('matmul', a);
  sameDType('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(
      `matmul: operands must have at least 1 dimension, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}; use mul() for scalars`,
    );
  }
  const aShape = a.ndim === 1 ? [1, a.shape[0]] : [...a.shape];
  const bShape = b.ndim === 1 ? [b.shape[0], 1] : [...b.shape];
  const m = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const k2 = bShape[bShape.length - 2];
  const n = bShape[bShape.length - 1];
  if (k !== k2)
    throw new ShapeError(
      `matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2})`,
    );
  const batchShape = broadcastShapes('matmul', aShape.slice(0, -2), bShape.slice(0, -2));
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const outShape = [...batchShape, m, n];
  return dispatch('matmul', [a, b], {}, () => {
    const aStr = a.ndim === 1 ? [0, a.strides[0]] : [...a.strides];
    const bStr = b.ndim === 1 ? [b.strides[0], 0] : [...b.strides];
    const A = broadcastBatch3(a, aShape, aStr, [...batchShape, m, k], batch);
    const B = broadcastBatch3(b, bShape, bStr, [...batchShape, k, n], batch);
    const out = empty(a.backend, [batch, m, n], a.dtype);
    try {
      if (out.size > 0) {
        if (k === 0) a.backend.fill(out.view_(), 0);
        else a.backend.matmul(A.view_(), B.view_(), out.view_());
      }
    } finally {
      A.dispose();
      B.dispose();
    }
    let finalShape = outShape;
    if (a.ndim === 1) finalShape = finalShape.filter((_, i) => i !== finalShape.length - 2);
    if (b.ndim === 1) finalShape = finalShape.slice(0, -1);
    const result = makeView(out, finalShape, contiguousStrides(finalShape), 0);
    out.dispose();
    return result;
  });
}
