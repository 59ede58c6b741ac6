import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import { normAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { arange } from './create.js';
import * as el from './elementwise.js';
import { empty, makeView, withTemps } from './util.js';
import { reshape, slice, unsqueeze } from './views.js';

/** Joins tensors along an existing `axis` (all other dimensions and the dtype must match). */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!tensors || tensors.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = tensors[0];
  const ax = normAxis(axis, first.ndim, 'concat');
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new TypeError('concat: every element must be a Tensor');
    if (t.dtype !== first.dtype)
      throw new ShapeError(`concat: dtypes differ (${first.dtype} and ${t.dtype}); cast first`);
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(
        `concat: shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside axis ${ax}`,
      );
    }
  }
  const sizes = tensors.map((t) => t.shape[ax]);
  return dispatch('concat', tensors, { axis: ax, sizes }, () => {
    const shape = [...first.shape];
    shape[ax] = sizes.reduce((a, b) => a + b, 0);
    const out = empty(first.backend, shape, first.dtype);
    let start = 0;
    for (const t of tensors) {
      if (t.size > 0) {
        const s = [...shape];
        s[ax] = t.shape[ax];
        const dst = makeView(out, s, out.strides, start * out.strides[ax]);
        first.backend.copy(t.view_(), dst.view_());
        dst.dispose();
      }
      start += t.shape[ax];
    }
    return out;
  });
}

/** Joins tensors of one shape along a new `axis`. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!tensors || tensors.length === 0) throw new ShapeError('stack: needs at least one tensor');
  const ax = normAxis(axis, tensors[0].ndim + 1, 'stack');
  for (const t of tensors) {
    if (t.ndim !== tensors[0].ndim || t.shape.some((d, i) => d !== tensors[0].shape[i])) {
      throw new ShapeError(
        `stack: all shapes must be equal, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`,
      );
    }
  }
  return dispatch('stack', tensors, {}, () =>
    withTemps((tmp) =>
      concat(
        tensors.map((t) => tmp(unsqueeze(t, ax))),
        ax,
      ),
    ),
  );
}

/** Splits into views along `axis`: pieces of `size` (last may be smaller), or of the listed sizes. */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const ax = normAxis(axis, x.ndim, 'split');
  const dim = x.shape[ax];
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0)
      throw new RangeError(`split: size must be a positive integer, got ${sizes}`);
    list = [];
    for (let s = 0; s < dim; s += sizes) list.push(Math.min(sizes, dim - s));
  } else {
    list = [...sizes];
    if (list.some((s) => !Number.isInteger(s) || s < 0) || list.reduce((a, b) => a + b, 0) !== dim) {
      throw new ShapeError(
        `split: sizes [${list}] must be non-negative integers summing to ${dim} (axis ${ax} of ${fmtShape(x.shape)})`,
      );
    }
  }
  return dispatch('split', [x], {}, () => {
    let start = 0;
    return list.map((s) => {
      const piece = slice(x, ax, start, start + s);
      start += s;
      return piece;
    });
  });
}

/** Splits into `chunks` nearly equal views along `axis` (like PyTorch: ceil-sized pieces). */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0)
    throw new RangeError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const dim = x.shape[normAxis(axis, x.ndim, 'chunk')];
  return split(x, Math.max(1, Math.ceil(dim / chunks)), axis);
}

/**
 * Pads with a constant. `widths` lists [before, after] for the last `widths.length` dimensions,
 * outermost first (so `[[1, 1]]` pads the last dimension by one on each side).
 */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor {
  if (widths.length > x.ndim)
    throw new ShapeError(
      `pad: ${widths.length} pad pairs for a tensor of rank ${x.ndim} ${fmtShape(x.shape)}`,
    );
  const full = x.shape.map(() => [0, 0] as [number, number]);
  widths.forEach((w, i) => {
    if (w.length !== 2 || !w.every((v) => Number.isInteger(v) && v >= 0))
      throw new RangeError(`pad: widths must be pairs of non-negative integers, got [${w}]`);
    full[x.ndim - widths.length + i] = [w[0], w[1]];
  });
  return dispatch('pad', [x], { widths: full, value }, () => {
    const shape = x.shape.map((d, i) => d + full[i][0] + full[i][1]);
    const out = empty(x.backend, shape, x.dtype);
    if (out.size > 0) x.backend.fill(out.view_(), value);
    if (x.size > 0) {
      const offset = full.reduce((o, [before], i) => o + before * out.strides[i], 0);
      const dst = makeView(out, x.shape, out.strides, offset);
      x.backend.copy(x.view_(), dst.view_());
      dst.dispose();
    }
    return out;
  });
}

function triangle(x: Tensor, k: number, lower: boolean, op: 'tril' | 'triu'): Tensor {
  if (x.ndim < 2) throw new ShapeError(`${op}: needs at least 2 dimensions, got ${fmtShape(x.shape)}`);
  if (!Number.isInteger(k)) throw new RangeError(`${op}: diagonal offset must be an integer, got ${k}`);
  const rows = x.shape[x.ndim - 2];
  const cols = x.shape[x.ndim - 1];
  return dispatch(op, [x], {}, () =>
    withTemps((tmp) => {
      const r = tmp(reshape(tmp(arange(rows, undefined, 1, { backend: x.backend })), [rows, 1]));
      const c = tmp(arange(cols, undefined, 1, { backend: x.backend }));
      const diff = tmp(el.sub(c, r)); // column - row
      const keepMask = tmp(lower ? el.le(diff, k) : el.ge(diff, k));
      return el.where(keepMask, x, 0);
    }),
  );
}

/** Keeps the lower triangle (elements with column - row <= k) of the last two dims; zeros the rest. */
export const tril = (x: Tensor, k = 0): Tensor => triangle(x, k, true, 'tril');
/** Keeps the upper triangle (column - row >= k); zeros the rest. */
export const triu = (x: Tensor, k = 0): Tensor => triangle(x, k, false, 'triu');
