import { dispatch } from '../dispatch.js';
import { type DType, isFloat } from '../dtype.js';
import { DTypeError, fmtShape, IndexError, ShapeError } from '../errors.js';
import { keep } from '../lifetime.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { arange, hostOutOfRange, rand } from './create.js';
import * as el from './elementwise.js';
import * as red from './reduce.js';
import { empty, makeView, requireIndex, withTemps } from './util.js';
import { contiguous, permute, reshape } from './views.js';

// ---- index validation ------------------------------------------------------------------------

let deviceIndexChecking = false;
const pendingChecks: { op: string; bad: Tensor; n: number }[] = [];

/**
 * Turns on checking of device-resident indices. Ids that came from the host (`tensor([...])`)
 * are always checked synchronously. Ids computed on the device (argmax, sampling, …) cannot be
 * checked without a readback, so in this mode each index op enqueues a count of out-of-range ids
 * and the next readback (`data()`, `item()`, …) throws if any was found. Off by default: it adds
 * a small reduction per index op.
 */
export function setIndexChecking(enabled: boolean): void {
  deviceIndexChecking = enabled;
}

/** @internal Awaited by readback: throws if a device index check found out-of-range ids. */
export async function flushIndexChecks(): Promise<void> {
  while (pendingChecks.length > 0) {
    const { op, bad, n } = pendingChecks.shift()!;
    const count = await bad.backend.download(bad.storage.handle, bad.dtype, 1);
    bad.dispose();
    if (count[0] > 0) {
      throw new IndexError(
        `${op}: ${count[0]} index value(s) out of range [0, ${n}) (found by index checking mode)`,
      );
    }
  }
}

/** @internal Validates ids against [0, n) (allowing `allowed`, e.g. an ignore index). */
export function checkIndexRange(op: string, index: Tensor, n: number, allowed?: number): void {
  const bad = hostOutOfRange(index, n, allowed);
  if (bad) {
    throw new IndexError(
      `${op}: index ${bad.value} is out of range [0, ${n}) for an index tensor ${fmtShape(index.shape)}`,
    );
  }
  if (bad === null) return;
  if (!deviceIndexChecking || index.size === 0) return;
  withTemps((tmp) => {
    const low = tmp(el.lt(index, 0));
    const outside = tmp(el.logicalOr(low, tmp(el.ge(index, n))));
    const bad = allowed === undefined ? outside : tmp(el.logicalAnd(outside, tmp(el.ne(index, allowed))));
    pendingChecks.push({ op, bad: keep(red.sum(tmp(bad.cast('int32')))), n });
  });
}

// ---- ops ---------------------------------------------------------------------------------------

/** PyTorch `gather`: out[i][j] = x[i][index[i][j]] along `axis` (index has x's rank, int32). */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  requireIndex('gather', 'index', index);
  const ax = normAxis(axis, x.ndim, 'gather');
  if (index.ndim !== x.ndim || index.shape.some((d, i) => i !== ax && d > x.shape[i])) {
    throw new ShapeError(
      `gather: index ${fmtShape(index.shape)} must have the rank of x ${fmtShape(x.shape)} and no larger size off axis ${ax}`,
    );
  }
  checkIndexRange('gather', index, x.shape[ax]);
  return dispatch('gather', [x, index], { axis: ax }, () => {
    const out = empty(x.backend, index.shape, x.dtype);
    if (out.size > 0) x.backend.gather(x.view_(), ax, index.view_(), out.view_());
    return out;
  });
}

/** Selects entries of `x` along `axis` by a 1-D int32 `index` (repeats allowed). */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  requireIndex('indexSelect', 'index', index);
  const ax = normAxis(axis, x.ndim, 'indexSelect');
  if (index.ndim !== 1)
    throw new ShapeError(`indexSelect: index must be 1-D, got ${fmtShape(index.shape)}; flatten it first`);
  checkIndexRange('indexSelect', index, x.shape[ax]);
  return dispatch('indexSelect', [x, index], { axis: ax }, () => {
    const shape = [...x.shape];
    shape[ax] = index.shape[0];
    const out = empty(x.backend, shape, x.dtype);
    if (out.size > 0) x.backend.indexSelect(x.view_(), ax, index.view_(), out.view_());
    return out;
  });
}

/** Embedding lookup: rows of `weight` [V, D] for int32 `ids` of any shape → [...ids.shape, D]. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  requireIndex('embedding', 'ids', ids);
  if (weight.ndim !== 2)
    throw new ShapeError(`embedding: weight must be [vocab, dim], got ${fmtShape(weight.shape)}`);
  return dispatch('embedding', [ids, weight], {}, () =>
    withTemps((tmp) => {
      const rows = tmp(indexSelect(weight, 0, tmp(reshape(ids, [ids.size]))));
      return reshape(rows, [...ids.shape, weight.shape[1]]);
    }),
  );
}

/**
 * PyTorch `scatter_add`: a copy of `x` with out[..index[i][j]..][j] += src[i][j] along `axis`.
 * Repeated indices accumulate. `index` and `src` share a shape.
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  requireIndex('scatterAdd', 'index', index);
  const ax = normAxis(axis, x.ndim, 'scatterAdd');
  if (src.dtype !== x.dtype) throw new DTypeError(`scatterAdd: src is ${src.dtype} but x is ${x.dtype}`);
  if (
    index.ndim !== x.ndim ||
    src.ndim !== x.ndim ||
    index.shape.some((d, i) => d !== src.shape[i] || (i !== ax && d > x.shape[i]))
  ) {
    throw new ShapeError(
      `scatterAdd: index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must have equal shapes, the rank of x ${fmtShape(x.shape)}, and no larger size off axis ${ax}`,
    );
  }
  checkIndexRange('scatterAdd', index, x.shape[ax]);
  return dispatch('scatterAdd', [x, index, src], { axis: ax }, () => {
    const out = empty(x.backend, x.shape, x.dtype);
    if (out.size > 0) {
      x.backend.copy(x.view_(), out.view_());
      if (index.size > 0) x.backend.scatterAdd(out.view_(), ax, index.view_(), src.view_());
    }
    return out;
  });
}

/** The `k` largest (or smallest) entries along `axis`, sorted, and their int32 indices. */
export function topk(
  x: Tensor,
  k: number,
  options: { axis?: number; largest?: boolean } = {},
): [Tensor, Tensor] {
  const { largest = true } = options;
  if (x.dtype === 'bool') throw new DTypeError("topk: not defined for bool; cast with .cast('int32')");
  const ax = normAxis(options.axis ?? -1, x.ndim, 'topk');
  const n = x.ndim === 0 ? 1 : x.shape[ax];
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(
      `topk: k=${k} must be an integer in [0, ${n}] for axis ${ax} of ${fmtShape(x.shape)}`,
    );
  return dispatch('topk', [x], { k, axis: ax, largest }, () =>
    withTemps((tmp) => {
      const order = Array.from({ length: x.ndim }, (_, i) => i).filter((i) => i !== ax);
      order.push(ax);
      const inverse = new Array<number>(x.ndim);
      order.forEach((o, i) => {
        inverse[o] = i;
      });
      const rows = tmp(contiguous(tmp(permute(x, order))));
      const shape = [...rows.shape.slice(0, -1), k];
      const values = tmp(empty(x.backend, shape, x.dtype));
      const indices = tmp(empty(x.backend, shape, 'int32'));
      if (values.size > 0) x.backend.topk(rows.view_(), k, largest, values.view_(), indices.view_());
      const back = (t: Tensor) =>
        makeView(
          t,
          inverse.map((i) => t.shape[i]),
          inverse.map((i) => t.strides[i]),
          0,
        );
      return [back(values), back(indices)] as [Tensor, Tensor];
    }),
  );
}

/**
 * Draws `numSamples` category indices (int32) per row of non-negative weights `probs` ([C] or
 * [N, C]; rows need not sum to 1). Without replacement it uses the Gumbel-top-k trick, so a
 * category with zero weight is never drawn and `numSamples` may not exceed the categories.
 * Uses the seeded generator (`manualSeed`). Not differentiable.
 */
export function multinomial(
  probs: Tensor,
  numSamples: number,
  options: { replacement?: boolean } = {},
): Tensor {
  const { replacement = false } = options;
  if (!isFloat(probs.dtype)) throw new DTypeError(`multinomial: probs must be float, got ${probs.dtype}`);
  if (probs.ndim !== 1 && probs.ndim !== 2)
    throw new ShapeError(`multinomial: probs must be [C] or [N, C], got ${fmtShape(probs.shape)}`);
  const C = probs.shape[probs.ndim - 1];
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new RangeError(`multinomial: numSamples must be a positive integer, got ${numSamples}`);
  if (!replacement && numSamples > C) {
    throw new RangeError(
      `multinomial: cannot draw ${numSamples} samples without replacement from ${C} categories; pass { replacement: true }`,
    );
  }
  return dispatch('multinomial', [probs], {}, () =>
    withTemps((tmp) => {
      const P = probs.ndim === 1 ? tmp(reshape(probs, [1, C])) : probs;
      const N = P.shape[0];
      let idx: Tensor;
      if (replacement) {
        // inverse CDF: count how many cumulative weights lie at or below u·total
        const cdf = tmp(red.cumsum(P, 1));
        const total = tmp(cdf.slice(1, C - 1, C));
        const u = tmp(el.mul(tmp(rand([N, numSamples], { backend: P.backend, dtype: P.dtype })), total));
        const below = tmp(el.le(tmp(reshape(cdf, [N, 1, C])), tmp(reshape(u, [N, numSamples, 1]))));
        const count = tmp(red.sum(tmp(below.cast('int32')), 2));
        idx = el.minimum(count, C - 1);
      } else {
        const u = tmp(rand([N, C], { backend: P.backend, dtype: P.dtype, low: 2 ** -24 }));
        const gumbel = tmp(el.neg(tmp(el.log(tmp(el.neg(tmp(el.log(u))))))));
        const keys = tmp(el.add(tmp(el.log(P)), gumbel));
        const [vals, ids] = topk(keys, numSamples, { axis: 1 });
        tmp(vals);
        idx = ids;
      }
      if (probs.ndim === 1) {
        tmp(idx);
        return reshape(idx, [numSamples]);
      }
      return idx;
    }),
  );
}

/** One-hot encoding of int32 `indices` → [...indices.shape, numClasses] (int32 unless `dtype`). */
export function oneHot(indices: Tensor, numClasses: number, options: { dtype?: DType } = {}): Tensor {
  requireIndex('oneHot', 'indices', indices);
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  checkIndexRange('oneHot', indices, numClasses);
  return dispatch('oneHot', [indices], {}, () =>
    withTemps((tmp) => {
      const classes = tmp(arange(numClasses, undefined, 1, { backend: indices.backend, dtype: 'int32' }));
      const hot = tmp(el.eq(tmp(reshape(indices, [...indices.shape, 1])), classes));
      return hot.cast(options.dtype ?? 'int32');
    }),
  );
}
