import { dispatch } from '../dispatch.js';
import { assertDType, type DType } from '../dtype.js';
import { fmtShape, ShapeError } from '../errors.js';
import {
  broadcastShapes,
  broadcastStrides,
  checkShape,
  inferReshape,
  normAxes,
  normAxis,
  viewStrides,
} from '../shape.js';
import type { Tensor } from '../tensor.js';
import { hostRanges } from './create.js';
import { empty, makeView, operand } from './util.js';

// Every view op records as one of: reshape, permute, slice, expand, contiguous, cast.
// squeeze/unsqueeze/flatten/view are reshapes; transpose is a permute; narrow is a slice.

/** @internal A contiguous copy, not recorded (used by readback). */
export function copyContiguous(t: Tensor): Tensor {
  const out = empty(t.backend, t.shape, t.dtype);
  if (out.size > 0) t.backend.copy(t.view_(), out.view_());
  return out;
}

function reshapeImpl(t: Tensor, to: number[], allowCopy: boolean, op: string): Tensor {
  const strides = viewStrides(t.shape, t.strides, to);
  if (strides) return makeView(t, to, strides, t.offset);
  if (!allowCopy) {
    throw new ShapeError(
      `${op}: cannot view ${fmtShape(t.shape)} with strides [${t.strides}] as ${fmtShape(to)} without copying; use reshape() or contiguous() first`,
    );
  }
  const c = copyContiguous(t);
  const out = makeView(c, to, viewStrides(c.shape, c.strides, to)!, 0);
  c.dispose();
  return out;
}

/** See {@link Tensor.reshape}. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const to = inferReshape(t.shape, shape, 'reshape');
  return dispatch('reshape', [t], { shape: to }, () => reshapeImpl(t, to, true, 'reshape'));
}

/** See {@link Tensor.view}. */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  const to = inferReshape(t.shape, shape, 'view');
  return dispatch('reshape', [t], { shape: to }, () => reshapeImpl(t, to, false, 'view'));
}

/** See {@link Tensor.permute}. */
export function permute(t: Tensor, axes: readonly number[]): Tensor {
  const n = t.ndim;
  if (axes.length !== n)
    throw new ShapeError(`permute: expected ${n} axes for shape ${fmtShape(t.shape)}, got [${axes}]`);
  const norm = axes.map((a) => normAxis(a, n, 'permute'));
  if (new Set(norm).size !== n)
    throw new ShapeError(`permute: axes [${axes}] are not a permutation of 0..${n - 1}`);
  return dispatch('permute', [t], { axes: norm }, () =>
    makeView(
      t,
      norm.map((a) => t.shape[a]),
      norm.map((a) => t.strides[a]),
      t.offset,
    ),
  );
}

/** See {@link Tensor.transpose}. */
export function transpose(t: Tensor, a = -2, b = -1): Tensor {
  const n = t.ndim;
  const axes = Array.from({ length: n }, (_, i) => i);
  const i = normAxis(a, n, 'transpose');
  const j = normAxis(b, n, 'transpose');
  [axes[i], axes[j]] = [axes[j], axes[i]];
  return permute(t, axes);
}

/** See {@link Tensor.slice}. */
export function slice(t: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const ax = normAxis(axis, t.ndim, 'slice');
  const dim = t.shape[ax];
  if (!Number.isInteger(step) || step <= 0)
    throw new RangeError(`slice: step must be a positive integer, got ${step}`);
  const s = start < 0 ? start + dim : start;
  const e = end === undefined ? dim : end < 0 ? end + dim : end;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > dim || s > e) {
    throw new RangeError(
      `slice: range [${start}, ${end ?? dim}) is out of bounds for axis ${ax} of size ${dim} in ${fmtShape(t.shape)}`,
    );
  }
  const len = Math.ceil((e - s) / step);
  return dispatch('slice', [t], { axis: ax, start: s, end: e, step }, () => {
    const shape = [...t.shape];
    shape[ax] = len;
    const strides = [...t.strides];
    strides[ax] = t.strides[ax] * step;
    return makeView(t, shape, strides, t.offset + (len > 0 ? s * t.strides[ax] : 0));
  });
}

/** See {@link Tensor.narrow}. */
export function narrow(t: Tensor, axis: number, start: number, length: number): Tensor {
  return slice(
    t,
    axis,
    start,
    (start < 0 ? start + t.shape[normAxis(axis, t.ndim, 'narrow')] : start) + length,
  );
}

/** See {@link Tensor.expand}. A -1 keeps the existing size. */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - t.ndim;
  if (lead < 0)
    throw new ShapeError(`expand: cannot expand ${fmtShape(t.shape)} to fewer dimensions ${fmtShape(shape)}`);
  const target = shape.map((d, i) => (d === -1 && i >= lead ? t.shape[i - lead] : d));
  checkShape(target, 'expand');
  for (let i = 0; i < t.ndim; i++) {
    const d = t.shape[i];
    if (d !== 1 && d !== target[lead + i]) {
      throw new ShapeError(
        `expand: cannot expand ${fmtShape(t.shape)} to ${fmtShape(shape)}: dimension ${i} is ${d}, not 1 or ${target[lead + i]}`,
      );
    }
  }
  return dispatch('expand', [t], { shape: target }, () =>
    makeView(t, target, broadcastStrides(t.shape, t.strides, target), t.offset),
  );
}

/** @internal Broadcasts operands to a common shape (records `expand` only where needed). */
export function broadcastAll(
  op: string,
  ts: Tensor[],
): { shape: number[]; views: Tensor[]; owned: Tensor[] } {
  const shape = broadcastShapes(op, ...ts.map((t) => t.shape));
  const owned: Tensor[] = [];
  const views = ts.map((t) => {
    if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    const v = makeView(t, shape, broadcastStrides(t.shape, t.strides, shape), t.offset);
    owned.push(v);
    return v;
  });
  return { shape, views, owned };
}

/** See {@link Tensor.squeeze}. */
export function squeeze(t: Tensor, axes?: number | readonly number[]): Tensor {
  const drop =
    axes === undefined ? t.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes(axes, t.ndim, 'squeeze');
  for (const a of drop) {
    if (t.shape[a] !== 1)
      throw new ShapeError(`squeeze: dimension ${a} of ${fmtShape(t.shape)} has size ${t.shape[a]}, not 1`);
  }
  return reshape(
    t,
    t.shape.filter((_, i) => !drop.includes(i)),
  );
}

/** See {@link Tensor.unsqueeze}. */
export function unsqueeze(t: Tensor, axis: number): Tensor {
  const a = normAxis(axis, t.ndim + 1, 'unsqueeze');
  const shape = [...t.shape];
  shape.splice(a, 0, 1);
  return reshape(t, shape);
}

/** See {@link Tensor.flatten}. */
export function flatten(t: Tensor, start = 0, end = -1): Tensor {
  if (t.ndim === 0) return reshape(t, [1]);
  const s = normAxis(start, t.ndim, 'flatten');
  const e = normAxis(end, t.ndim, 'flatten');
  if (s > e) throw new ShapeError(`flatten: start ${start} is after end ${end} for ${fmtShape(t.shape)}`);
  const merged = t.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(t, [...t.shape.slice(0, s), merged, ...t.shape.slice(e + 1)]);
}

/** See {@link Tensor.contiguous}. */
export function contiguous(t: Tensor): Tensor {
  return dispatch('contiguous', [t], {}, () => (t.isContiguous ? t.alias() : copyContiguous(t)));
}

/** See {@link Tensor.cast}. */
export function cast(t: Tensor, dtype: DType): Tensor {
  assertDType(dtype, 'cast');
  return dispatch('cast', [t], { dtype }, () => {
    if (dtype === t.dtype) return t.alias();
    const out = empty(t.backend, t.shape, dtype);
    if (out.size > 0) t.backend.copy(t.view_(), out.view_());
    return out;
  });
}

/** See {@link Tensor.assign}: in-place overwrite. */
export function assign(t: Tensor, src: Tensor | number): void {
  const s = operand(src, t, 'assign');
  try {
    dispatch('assign', [t, s], {}, () => {
      broadcastShapes('assign', t.shape, s.shape);
      // A source sharing storage with the target (x.assign(x.T)) would be read while it is
      // written: copy it out first.
      const source = s.storage === t.storage ? copyContiguous(s) : s;
      const v = expand(source, t.shape);
      try {
        if (t.size > 0) t.backend.copy(v.view_(), t.view_());
      } finally {
        v.dispose();
        if (source !== s) source.dispose();
      }
      t.storage.version++;
      hostRanges.delete(t.storage);
      return t;
    });
  } finally {
    if (s !== src) s.dispose();
  }
}
