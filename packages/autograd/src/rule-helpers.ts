/**
 * Small tensor-op building blocks shared by gradient rules. Like the rules, they use only
 * public tensor ops, so they run on every backend and can themselves be differentiated.
 */
import { arange, type Shape, type Tensor, zeros } from '@kiln/tensor';

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Undoes broadcasting: sums `g` (shaped like an op's broadcast output) down to `shape` (the
 * operand's shape), over the leading dimensions the operand lacked and the size-1 dimensions
 * it was stretched along.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.sum(axes, true) : g;
  return summed.reshape(shape);
}

/** Broadcasts the gradient of a reduction over `axes` back to the input's shape. */
export function unreduce(g: Tensor, inShape: Shape, axes: readonly number[], keepDim: boolean): Tensor {
  return keptShape(g, inShape, axes, keepDim).expand(inShape);
}

/** `t` (a reduction's output or its gradient) reshaped to the keep-dim shape. */
export function keptShape(t: Tensor, inShape: Shape, axes: readonly number[], keepDim: boolean): Tensor {
  return keepDim ? t : t.reshape(inShape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

/** Reverses `t` along `axis` (there is no flip op: an index_select with descending ids). */
export function flip(t: Tensor, axis: number): Tensor {
  const n = t.shape[axis];
  return t.indexSelect(axis, arange(n - 1, -1, -1, { dtype: 'int32', backend: t.backend }));
}

/** Zeros of `shape` and `dtype` on `like`'s backend. */
export function zerosOn(like: Tensor, shape: Shape, dtype = like.dtype): Tensor {
  return zeros(shape, { dtype, backend: like.backend });
}

/** `index` (1-D, length n) shaped to broadcast along `axis` of `shape`, then expanded to it. */
export function alongAxis(index: Tensor, axis: number, shape: Shape): Tensor {
  return index.reshape(shape.map((d, i) => (i === axis ? d : 1))).expand(shape);
}
