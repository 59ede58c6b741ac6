import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import * as el from './elementwise.js';
import { checkIndexRange } from './indexing.js';
import * as red from './reduce.js';
import { empty, requireFloat, requireIndex, sameDType, withTemps } from './util.js';
import { contiguous, permute, reshape } from './views.js';

/** Runs `fn` on `x` with `axis` moved last and made contiguous, then moves it back. */
function alongLastAxis(x: Tensor, axis: number, fn: (rows: Tensor) => Tensor): Tensor {
  const ax = normAxis(axis, x.ndim, 'softmax');
  if (ax === x.ndim - 1) {
    return withTemps((tmp) => fn(tmp(contiguous(x))));
  }
  const order = Array.from({ length: x.ndim }, (_, i) => i).filter((i) => i !== ax);
  order.push(ax);
  const inverse = new Array<number>(x.ndim);
  order.forEach((o, i) => {
    inverse[o] = i;
  });
  return withTemps((tmp) => {
    const rows = tmp(contiguous(tmp(permute(x, order))));
    const y = tmp(fn(rows));
    return permute(y, inverse);
  });
}

function softmaxImpl(rows: Tensor, log: boolean): Tensor {
  const b = rows.backend;
  if (b.softmax) {
    const out = empty(b, rows.shape, rows.dtype);
    if (out.size > 0) b.softmax(rows.view_(), out.view_(), log);
    return out;
  }
  return withTemps((tmp) => {
    const m = tmp(red.max(rows, -1, true));
    const shifted = tmp(el.sub(rows, m));
    const e = tmp(el.exp(shifted));
    const s = tmp(red.sum(e, -1, true));
    return log ? el.sub(shifted, tmp(el.log(s))) : el.div(e, s);
  });
}

/** Softmax along `axis` (default last), one fused kernel where the backend has it. */
export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat('softmax', x);
  const ax = normAxis(axis, x.ndim, 'softmax');
  return dispatch('softmax', [x], { axis: ax }, () => alongLastAxis(x, ax, (r) => softmaxImpl(r, false)));
}

/** log(softmax(x)) along `axis`, computed without forming the probabilities. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat('logSoftmax', x);
  const ax = normAxis(axis, x.ndim, 'logSoftmax');
  return dispatch('logSoftmax', [x], { axis: ax }, () => alongLastAxis(x, ax, (r) => softmaxImpl(r, true)));
}

function checkNormParam(op: string, x: Tensor, p: Tensor | null | undefined, what: string): void {
  if (!p) return;
  const d = x.shape[x.ndim - 1];
  if (p.ndim !== 1 || p.shape[0] !== d) {
    throw new ShapeError(
      `${op}: ${what} must have shape [${d}] to match the last dimension of ${fmtShape(x.shape)}, got ${fmtShape(p.shape)}`,
    );
  }
  sameDType(op, x, p);
}

/** Options of {@link layerNorm} and {@link rmsNorm}. */
export interface NormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/**
 * Layer normalisation over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias
 * (biased variance, as in PyTorch). `weight` and `bias` are optional 1-D tensors.
 */
export function layerNorm(
  x: Tensor,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options: NormOptions = {},
): Tensor {
  const eps = options.eps ?? 1e-5;
  requireFloat('layerNorm', x);
  if (x.ndim === 0) throw new ShapeError('layerNorm: input must have at least one dimension');
  checkNormParam('layerNorm', x, weight, 'weight');
  checkNormParam('layerNorm', x, bias, 'bias');
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return dispatch('layerNorm', inputs, { eps, hasWeight: !!weight, hasBias: !!bias }, () =>
    withTemps((tmp) => {
      const rows = tmp(contiguous(x));
      const be = x.backend;
      if (be.layerNorm) {
        const out = empty(be, x.shape, x.dtype);
        if (out.size > 0)
          be.layerNorm(rows.view_(), weight?.view_() ?? null, bias?.view_() ?? null, eps, out.view_());
        return out;
      }
      const mu = tmp(red.mean(rows, -1, true));
      const d = tmp(el.sub(rows, mu));
      const v = tmp(red.mean(tmp(el.square(d)), -1, true));
      let y = tmp(el.mul(d, tmp(el.rsqrt(tmp(el.add(v, eps))))));
      if (weight) y = tmp(el.mul(y, weight));
      if (bias) y = tmp(el.add(y, bias));
      return y.alias();
    }),
  );
}

/** RMS normalisation over the last dimension: x / sqrt(mean(x²) + eps) * weight. */
export function rmsNorm(x: Tensor, weight?: Tensor | null, options: NormOptions = {}): Tensor {
  const eps = options.eps ?? 1e-6;
  requireFloat('rmsNorm', x);
  if (x.ndim === 0) throw new ShapeError('rmsNorm: input must have at least one dimension');
  checkNormParam('rmsNorm', x, weight, 'weight');
  const inputs = [x, ...(weight ? [weight] : [])];
  return dispatch('rmsNorm', inputs, { eps, hasWeight: !!weight }, () =>
    withTemps((tmp) => {
      const rows = tmp(contiguous(x));
      const be = x.backend;
      if (be.rmsNorm) {
        const out = empty(be, x.shape, x.dtype);
        if (out.size > 0) be.rmsNorm(rows.view_(), weight?.view_() ?? null, eps, out.view_());
        return out;
      }
      const ms = tmp(red.mean(tmp(el.square(rows)), -1, true));
      let y = tmp(el.mul(rows, tmp(el.rsqrt(tmp(el.add(ms, eps))))));
      if (weight) y = tmp(el.mul(y, weight));
      return y.alias();
    }),
  );
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and are excluded from the mean (default -100). */
  ignoreIndex?: number;
  /** `mean` over non-ignored targets (default), `sum`, or `none` (per-position losses). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of `logits` [..., C] against int32 class `targets` [...], from logits in one
 * pass (log-softmax is never materialised by the fused kernel). The mean divides by the number
 * of non-ignored targets; if every target is ignored the mean is NaN, as in PyTorch.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, reduction = 'mean' } = options;
  requireFloat('crossEntropy', logits);
  requireIndex('crossEntropy', 'targets', targets);
  if (
    logits.ndim < 1 ||
    targets.ndim !== logits.ndim - 1 ||
    targets.shape.some((d, i) => d !== logits.shape[i])
  ) {
    throw new ShapeError(
      `crossEntropy: targets ${fmtShape(targets.shape)} must match logits ${fmtShape(logits.shape)} without its last (class) dimension`,
    );
  }
  if (!['mean', 'sum', 'none'].includes(reduction))
    throw new RangeError(`crossEntropy: unknown reduction '${reduction}'`);
  const C = logits.shape[logits.ndim - 1];
  checkIndexRange('crossEntropy', targets, C, ignoreIndex);
  return dispatch('crossEntropy', [logits, targets], { ignoreIndex, reduction }, () =>
    withTemps((tmp) => {
      const N = targets.size;
      const rows = tmp(contiguous(tmp(reshape(logits, [N, C]))));
      const t = tmp(contiguous(tmp(reshape(targets, [N]))));
      const be = logits.backend;
      let perRow: Tensor;
      if (be.crossEntropy) {
        perRow = tmp(empty(be, [N], logits.dtype));
        if (N > 0) be.crossEntropy(rows.view_(), t.view_(), ignoreIndex, perRow.view_());
      } else {
        const valid = tmp(el.ne(t, ignoreIndex));
        const safeT = tmp(el.where(valid, t, 0));
        const lse = tmp(red.logsumexp(rows, -1));
        const picked = tmp(reshape(tmp(rows.gather(1, tmp(reshape(safeT, [N, 1])))), [N]));
        perRow = tmp(el.where(valid, tmp(el.sub(lse, picked)), 0));
      }
      if (reduction === 'none') return reshape(perRow, targets.shape);
      const total = tmp(red.sum(perRow));
      if (reduction === 'sum') return total.alias();
      const count = tmp(tmp(red.sum(tmp(tmp(el.ne(t, ignoreIndex)).cast('int32')))).cast(logits.dtype));
      return el.div(total, count);
    }),
  );
}
