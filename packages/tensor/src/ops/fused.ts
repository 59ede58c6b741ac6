/**
 * Fused training kernels: backward passes of the fused row ops and a multi-tensor AdamW step
 * (attention lives in `attention.ts`). Each op calls the backend's optional kernel when it has one and
 * otherwise composes the same math from public ops, so every backend is correct before it is
 * fast (see docs/backends.md, "Optional fused kernels").
 */
import type { AdamWScalars } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { OpAttrs } from '../op-table.js';
import type { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { oneHot, scatterAdd } from './indexing.js';
import { empty, requireFloat, requireIndex, sameDType, withTemps } from './util.js';
import { contiguous, expand, reshape } from './views.js';

/** Options of {@link crossEntropyBackward} (the forward's options). */
export interface CrossEntropyBackwardOptions {
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Gradient of `crossEntropy(logits, targets, options)` with respect to the logits, given the
 * gradient `gradOut` of the loss (a scalar for `mean`/`sum`, `targets`' shape for `none`):
 * (softmax(logits) − onehot(targets)) · g / count, zero on ignored rows. The fused kernel reads
 * each row of logits twice (max, then exp-sum and write) and never stores the probabilities.
 */
export function crossEntropyBackward(
  logits: Tensor,
  targets: Tensor,
  gradOut: Tensor,
  options: CrossEntropyBackwardOptions = {},
): Tensor {
  const { ignoreIndex = -100, reduction = 'mean' } = options;
  requireFloat('crossEntropyBackward', logits);
  requireIndex('crossEntropyBackward', 'targets', targets);
  sameDType('crossEntropyBackward', logits, gradOut);
  const C = logits.shape[logits.ndim - 1];
  const N = targets.size;
  if (
    logits.ndim < 1 ||
    targets.ndim !== logits.ndim - 1 ||
    targets.shape.some((d, i) => d !== logits.shape[i])
  )
    throw new ShapeError(
      `crossEntropyBackward: targets ${fmtShape(targets.shape)} must match logits ${fmtShape(logits.shape)} without its last dimension`,
    );
  const want = reduction === 'none' ? targets.shape : [];
  if (gradOut.shape.join() !== want.join())
    throw new ShapeError(
      `crossEntropyBackward: gradOut must have shape ${fmtShape(want)} for reduction '${reduction}', got ${fmtShape(gradOut.shape)}`,
    );
  return dispatch('crossEntropyBackward', [logits, targets, gradOut], { ignoreIndex, reduction }, () =>
    withTemps((tmp) => {
      const rows = tmp(contiguous(tmp(reshape(logits, [N, C]))));
      const t = tmp(contiguous(tmp(reshape(targets, [N]))));
      const valid = tmp(t.ne(ignoreIndex));
      // the per-row upstream gradient: g (broadcast with stride 0), g/count, or g itself
      let scale: Tensor;
      if (reduction === 'none') scale = tmp(contiguous(tmp(reshape(gradOut, [N]))));
      else {
        const g = reduction === 'mean' ? tmp(gradOut.div(tmp(tmp(valid.cast(logits.dtype)).sum()))) : gradOut;
        scale = tmp(expand(g, [N]));
      }
      const be = logits.backend;
      if (be.crossEntropyBackward) {
        const out = tmp(empty(be, [N, C], logits.dtype));
        if (out.size > 0)
          be.crossEntropyBackward(rows.view_(), t.view_(), scale.view_(), ignoreIndex, out.view_());
        return reshape(out, logits.shape);
      }
      const hot = tmp(oneHot(tmp(where(valid, t, 0)), C, { dtype: logits.dtype }));
      const perRow = tmp(tmp(where(valid, scale, 0)).unsqueeze(-1));
      return reshape(tmp(tmp(tmp(rows.softmax(-1)).sub(hot)).mul(perRow)), logits.shape);
    }),
  );
}

/**
 * Gradient of `softmax(x, axis)` (or `logSoftmax` with `log`) from its output `y` and upstream
 * gradient `g`: y·(g − Σ g·y), or g − exp(y)·Σ g for log-softmax. One fused row kernel where the
 * backend has it.
 */
export function softmaxBackward(y: Tensor, g: Tensor, axis = -1, log = false): Tensor {
  requireFloat('softmaxBackward', y);
  sameDType('softmaxBackward', y, g);
  if (y.shape.join() !== g.shape.join())
    throw new ShapeError(`softmaxBackward: y ${fmtShape(y.shape)} and g ${fmtShape(g.shape)} must match`);
  const ax = axis < 0 ? axis + y.ndim : axis;
  return dispatch('softmaxBackward', [y, g], { axis: ax, log }, () =>
    withTemps((tmp) => {
      const be = y.backend;
      if (be.softmaxBackward && ax === y.ndim - 1) {
        const yc = tmp(contiguous(y));
        const gc = tmp(contiguous(g));
        const out = empty(be, y.shape, y.dtype);
        if (out.size > 0) be.softmaxBackward(yc.view_(), gc.view_(), log, out.view_());
        return out;
      }
      if (log) return g.sub(tmp(tmp(y.exp()).mul(tmp(g.sum(ax, true)))));
      const gy = tmp(g.mul(y));
      return gy.sub(tmp(y.mul(tmp(gy.sum(ax, true)))));
    }),
  );
}

/** Options of {@link layerNormBackward} / {@link rmsNormBackward}. */
export interface NormBackwardOptions {
  /** The forward's eps. */
  eps: number;
  /** LayerNorm only: the forward had a bias (its gradient Σ g is returned third). */
  bias?: boolean;
}

/** Shared body of the norm backwards: [dx, dweight or null, dbias or null]. */
function normBackward<K extends 'layerNormBackward' | 'rmsNormBackward'>(
  op: K,
  attrs: OpAttrs<K>,
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  eps: number,
  center: boolean,
  bias: boolean,
): [Tensor, Tensor | null, Tensor | null] {
  requireFloat(op, x);
  sameDType(op, x, g);
  if (x.shape.join() !== g.shape.join() || x.ndim === 0)
    throw new ShapeError(`${op}: x ${fmtShape(x.shape)} and g ${fmtShape(g.shape)} must match (rank ≥ 1)`);
  const n = x.shape[x.ndim - 1];
  const inputs = weight ? [x, weight, g] : [x, g];
  // dispatch reports tensors only: [dx, dweight if weight, dbias if bias]
  const outs = dispatch(op, inputs, attrs, (): Tensor[] =>
    withTemps((tmp) => {
      const be = x.backend;
      const lead = x.shape.slice(0, -1).map((_, i) => i);
      const cols = weight || bias;
      if (be.normBackward) {
        const [xc, gc] = [tmp(contiguous(x)), tmp(contiguous(g))];
        const dx = empty(be, x.shape, x.dtype);
        const stats = tmp(empty(be, [xc.size / Math.max(n, 1), 2], 'float32'));
        const dw = cols ? empty(be, [n], x.dtype) : null;
        const db = bias ? empty(be, [n], x.dtype) : null;
        if (x.size > 0) {
          be.normBackward(
            xc.view_(),
            weight?.view_() ?? null,
            gc.view_(),
            eps,
            center,
            dx.view_(),
            stats.view_(),
            dw?.view_() ?? null,
            db?.view_() ?? null,
          );
        } else for (const t of [dw, db]) if (t && t.size > 0) be.fill(t.view_(), 0);
        if (dw && !weight) tmp(dw);
        return [dx, ...(weight && dw ? [dw] : []), ...(db ? [db] : [])];
      }
      // the composite: mean and 1/std recomputed from x
      const xc = center ? tmp(x.sub(tmp(x.mean(-1, true)))) : x;
      const rstd = tmp(tmp(tmp(tmp(xc.square()).mean(-1, true)).add(eps)).rsqrt());
      const xhat = tmp(xc.mul(rstd));
      const gh = weight ? tmp(g.mul(weight)) : g;
      let inner = tmp(gh.sub(tmp(xhat.mul(tmp(tmp(gh.mul(xhat)).mean(-1, true))))));
      if (center) inner = tmp(inner.sub(tmp(gh.mean(-1, true))));
      const dx = rstd.mul(inner);
      const sumLead = (t: Tensor) => (lead.length > 0 ? t.sum(lead) : t.alias());
      const dw = weight ? [sumLead(tmp(g.mul(xhat)))] : [];
      return [dx, ...dw, ...(bias ? [sumLead(g)] : [])];
    }),
  );
  return [outs[0], weight ? outs[1] : null, bias ? outs[weight ? 2 : 1] : null];
}

/**
 * Gradients [dx, dweight, dbias] of `layerNorm(x, weight, bias, { eps })` given the upstream
 * gradient `g` (dweight/dbias null without weight/bias): one row kernel for dx and one column
 * reduction for dweight and dbias where the backend has them.
 */
export function layerNormBackward(
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  options: NormBackwardOptions,
): [Tensor, Tensor | null, Tensor | null] {
  const { eps } = options;
  const bias = !!options.bias;
  const attrs = { eps, hasWeight: !!weight, hasBias: bias };
  return normBackward('layerNormBackward', attrs, x, weight, g, eps, true, bias);
}

/** Gradients [dx, dweight] of `rmsNorm(x, weight, { eps })` given the upstream gradient `g`. */
export function rmsNormBackward(
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  options: NormBackwardOptions,
): [Tensor, Tensor | null] {
  const { eps } = options;
  const [dx, dw] = normBackward(
    'rmsNormBackward',
    { eps, hasWeight: !!weight },
    x,
    weight,
    g,
    eps,
    false,
    false,
  );
  return [dx, dw];
}

/**
 * Gradient of `indexSelect(x, 0, index)` (an embedding lookup) with respect to x [numRows, ...]:
 * out[id] = Σ g[i] over positions with index[i] = id. The fused kernel sums each id's positions
 * in order (deterministic, no float atomics); otherwise it is a scatter-add.
 */
export function embeddingBackward(g: Tensor, index: Tensor, numRows: number): Tensor {
  requireFloat('embeddingBackward', g);
  requireIndex('embeddingBackward', 'index', index);
  if (index.ndim !== 1 || g.ndim < 1 || g.shape[0] !== index.shape[0])
    throw new ShapeError(
      `embeddingBackward: index must be 1-D and match g's first dimension, got index ${fmtShape(index.shape)} and g ${fmtShape(g.shape)}`,
    );
  const rest = g.shape.slice(1);
  const N = index.shape[0];
  const D = rest.reduce((a, b) => a * b, 1);
  return dispatch('embeddingBackward', [g, index], { numRows }, () =>
    withTemps((tmp) => {
      const be = g.backend;
      const out = empty(be, [numRows, ...rest], g.dtype);
      if (out.size > 0) be.fill(out.view_(), 0);
      if (N === 0 || D === 0) return out;
      if (be.embeddingBackward) {
        const gc = tmp(contiguous(tmp(reshape(g, [N, D]))));
        const ic = tmp(contiguous(index));
        const scratch = tmp(empty(be, [2 * N], 'int32'));
        be.embeddingBackward(
          gc.view_(),
          ic.view_(),
          scratch.view_(),
          tmp(reshape(out, [numRows, D])).view_(),
        );
        return out;
      }
      const idx = tmp(expand(tmp(reshape(index, [N, ...rest.map(() => 1)])), g.shape));
      const res = scatterAdd(out, 0, idx, g);
      out.dispose();
      return res;
    }),
  );
}

/** Hyper-parameters of one {@link adamwUpdate} step. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count (for the bias corrections). */
  step: number;
}

/**
 * The scalars of one AdamW step, in the exact order the fused kernels and the composite use
 * them: p ← p·decay − stepSize · m / (sqrt(v)/sqrtC2 + eps), with decay = 1 − lr·wd,
 * stepSize = lr / (1 − β1ᵗ), sqrtC2 = sqrt(1 − β2ᵗ) (PyTorch's AdamW).
 */
export function adamwScalars(h: AdamWHyper): AdamWScalars {
  return {
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    decay: 1 - h.lr * h.weightDecay,
    stepSize: h.lr / (1 - h.beta1 ** h.step),
    sqrtC2: Math.sqrt(1 - h.beta2 ** h.step),
    eps: h.eps,
  };
}

/**
 * One AdamW step over many tensors, in place: for each i, m[i] ← β1·m + (1−β1)·g,
 * v[i] ← β2·v + (1−β2)·g², params[i] ← params[i]·(1 − lr·wd) − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps).
 * One dispatch per tensor on backends with the fused kernel (all scalars in its uniforms),
 * otherwise the same sequence of ops written back with `assign`. Run it under `noGrad`.
 */
export function adamwUpdate(
  params: Tensor[],
  grads: Tensor[],
  m: Tensor[],
  v: Tensor[],
  hyper: AdamWHyper,
): void {
  const n = params.length;
  if (grads.length !== n || m.length !== n || v.length !== n)
    throw new RangeError(
      `adamwUpdate: params, grads, m and v must have the same length (got ${n}, ${grads.length}, ${m.length}, ${v.length})`,
    );
  if (!(hyper.step >= 1)) throw new RangeError(`adamwUpdate: step must be ≥ 1 (1-based), got ${hyper.step}`);
  const s = adamwScalars(hyper);
  for (let i = 0; i < n; i++) {
    const [p, g, mi, vi] = [params[i], grads[i], m[i], v[i]];
    requireFloat('adamwUpdate', p);
    for (const t of [g, mi, vi]) {
      sameDType('adamwUpdate', p, t);
      if (t.shape.join() !== p.shape.join())
        throw new ShapeError(
          `adamwUpdate: tensor ${i}: shapes ${fmtShape(p.shape)} and ${fmtShape(t.shape)} differ`,
        );
    }
    for (const t of [p, mi, vi])
      if (!t.isContiguous)
        throw new ShapeError(
          `adamwUpdate: tensor ${i}: parameters and moments must be contiguous (updated in place)`,
        );
    if (p.size === 0) continue;
    const be = p.backend;
    // composite: hooks see no op of its own (its outputs are its inputs, updated in place); the
    // fallback's writes are reported as `assign`s, exactly like a hand-written optimizer's
    dispatch('adamwUpdate', [p, g, mi, vi], {}, () => {
      if (be.adamwUpdate) {
        withTemps((tmp) => {
          const gc = tmp(contiguous(g));
          be.adamwUpdate!(p.view_(), gc.view_(), mi.view_(), vi.view_(), s);
        });
        for (const t of [p, mi, vi]) t.storage.version++; // as assign does
      } else {
        withTemps((tmp) => {
          const mn = tmp(tmp(mi.mul(s.beta1)).add(tmp(g.mul(s.oneMinusBeta1))));
          const vn = tmp(tmp(vi.mul(s.beta2)).add(tmp(tmp(g.square()).mul(s.oneMinusBeta2))));
          const denom = tmp(tmp(tmp(vn.sqrt()).div(s.sqrtC2)).add(s.eps));
          const pn = tmp(tmp(p.mul(s.decay)).sub(tmp(tmp(mn.div(denom)).mul(s.stepSize))));
          mi.assign(mn);
          vi.assign(vn);
          p.assign(pn);
        });
      }
      return [p, mi, vi];
    });
  }
}
