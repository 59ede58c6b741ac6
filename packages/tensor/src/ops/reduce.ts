import type { ReduceOp } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { isFloat } from '../dtype.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import { contiguousStrides, normAxes, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import * as el from './elementwise.js';
import { empty, makeView, requireFloat, withTemps } from './util.js';

type Axes = number | readonly number[] | undefined;

/** @internal Runs a backend reduction of `axes` (sorted, normalised) and shapes the result. */
function reduceImpl(op: ReduceOp, x: Tensor, axes: number[], keepDim: boolean): Tensor {
  const keepAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const order = [...keepAxes, ...axes];
  const outShape = keepAxes.map((i) => x.shape[i]);
  const outDType = op === 'argmax' || op === 'argmin' ? 'int32' : x.dtype;
  const reducedSize = axes.reduce((n, a) => n * x.shape[a], 1);
  if (reducedSize === 0 && op !== 'sum' && op !== 'prod') {
    throw new ShapeError(`${op}: cannot reduce over an empty dimension of ${fmtShape(x.shape)}`);
  }
  const out = empty(x.backend, outShape, outDType);
  const permuted = makeView(
    x,
    order.map((i) => x.shape[i]),
    order.map((i) => x.strides[i]),
    x.offset,
  );
  try {
    if (out.size > 0) x.backend.reduce(op, permuted.view_(), axes.length, out.view_());
  } finally {
    permuted.dispose();
  }
  if (!keepDim) return out;
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const result = makeView(out, kept, contiguousStrides(kept), 0);
  out.dispose();
  return result;
}

function reduction(op: ReduceOp, x: Tensor, axesArg: Axes, keepDim: boolean): Tensor {
  if (x.dtype === 'bool' && op !== 'argmax' && op !== 'argmin' && op !== 'max' && op !== 'min') {
    throw new DTypeError(
      `${op}: not defined for bool ${fmtShape(x.shape)}; cast with .cast('int32') first (e.g. to count trues)`,
    );
  }
  if (op === 'mean') requireFloat('mean', x);
  const axes = normAxes(axesArg, x.ndim, op);
  return dispatch(op, [x], { axes, keepDim }, () => reduceImpl(op, x, axes, keepDim));
}

/** Sum over `axes` (all by default). */
export const sum = (x: Tensor, axes?: Axes, keepDim = false): Tensor => reduction('sum', x, axes, keepDim);
/** Mean over `axes` (float only). */
export const mean = (x: Tensor, axes?: Axes, keepDim = false): Tensor => reduction('mean', x, axes, keepDim);
/** Maximum over `axes`. */
export const max = (x: Tensor, axes?: Axes, keepDim = false): Tensor => reduction('max', x, axes, keepDim);
/** Minimum over `axes`. */
export const min = (x: Tensor, axes?: Axes, keepDim = false): Tensor => reduction('min', x, axes, keepDim);
/** Product over `axes`. */
export const prod = (x: Tensor, axes?: Axes, keepDim = false): Tensor => reduction('prod', x, axes, keepDim);

function argReduce(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, keepDim: boolean): Tensor {
  if (axis === undefined) {
    // over the flattened tensor: reduce all axes; positions are row-major flat indices
    return reduction(op, x, undefined, keepDim);
  }
  return reduction(op, x, normAxis(axis, x.ndim, op), keepDim);
}

/** Index (int32) of the maximum along `axis`, or the flat index over all elements. First occurrence wins. */
export const argmax = (x: Tensor, axis?: number, keepDim = false): Tensor =>
  argReduce('argmax', x, axis, keepDim);
/** Index (int32) of the minimum along `axis`, or the flat index over all elements. */
export const argmin = (x: Tensor, axis?: number, keepDim = false): Tensor =>
  argReduce('argmin', x, axis, keepDim);

/** Variance over `axes` with Bessel's `correction` (default 1, as in PyTorch). Composite. */
export function variance(
  x: Tensor,
  axes?: Axes,
  options: { correction?: number; keepDim?: boolean } = {},
): Tensor {
  const { correction = 1, keepDim = false } = options;
  requireFloat('var', x);
  const ax = normAxes(axes, x.ndim, 'var');
  const n = ax.reduce((k, a) => k * x.shape[a], 1);
  return dispatch('var', [x], {}, () =>
    withTemps((tmp) => {
      const m = tmp(mean(x, ax, true));
      const d = tmp(el.sub(x, m));
      const sq = tmp(el.square(d));
      const s = tmp(sum(sq, ax, keepDim));
      return el.div(s, Math.max(n - correction, 0));
    }),
  );
}

/** log(sum(exp(x))) over `axes`, computed stably (max subtracted first). Composite. */
export function logsumexp(x: Tensor, axes?: Axes, keepDim = false): Tensor {
  requireFloat('logsumexp', x);
  const ax = normAxes(axes, x.ndim, 'logsumexp');
  return dispatch('logsumexp', [x], {}, () =>
    withTemps((tmp) => {
      const rawMax = tmp(max(x, ax, true));
      // rows that are all -inf would give NaN from (-inf) - (-inf): shift those by 0 instead
      const finite = tmp(el.lt(tmp(el.abs(rawMax)), Number.POSITIVE_INFINITY));
      const m = tmp(el.where(finite, rawMax, 0));
      const shifted = tmp(el.sub(x, m));
      const s = tmp(sum(tmp(el.exp(shifted)), ax, true));
      const r = el.add(tmp(el.log(s)), m);
      if (keepDim) return r;
      tmp(r);
      return r.reshape(x.shape.filter((_, i) => !ax.includes(i)));
    }),
  );
}

/** Inclusive cumulative sum along `axis`. */
export function cumsum(x: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, x.ndim, 'cumsum');
  if (x.dtype === 'bool')
    throw new DTypeError("cumsum: not defined for bool; cast with .cast('int32') first");
  if (!isFloat(x.dtype) && x.dtype !== 'int32' && x.dtype !== 'uint32')
    throw new DTypeError(`cumsum: unsupported dtype ${x.dtype}`);
  return dispatch('cumsum', [x], { axis: ax }, () => {
    const n = x.ndim;
    const order = [...Array.from({ length: n }, (_, i) => i).filter((i) => i !== ax), ax];
    const permuted = makeView(
      x,
      order.map((i) => x.shape[i]),
      order.map((i) => x.strides[i]),
      x.offset,
    );
    const out = empty(x.backend, permuted.shape, x.dtype);
    try {
      if (out.size > 0) x.backend.cumsum(permuted.view_(), out.view_());
    } finally {
      permuted.dispose();
    }
    // undo the permutation as a view
    const inverse = new Array<number>(n);
    order.forEach((o, i) => {
      inverse[o] = i;
    });
    const result = makeView(
      out,
      inverse.map((i) => out.shape[i]),
      inverse.map((i) => out.strides[i]),
      0,
    );
    out.dispose();
    return result;
  });
}
