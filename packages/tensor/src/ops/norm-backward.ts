/**
 * The gradients of `layerNorm` and `rmsNorm`: the fused ops (a row kernel for dx and a column
 * reduction for dweight/dbias where the backend has them) and the composites from public ops that
 * are both their fallback and what autograd records when backward is itself differentiated.
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { OpAttrs } from '../op-table.js';
import type { Tensor } from '../tensor.js';
import { empty, requireFloat, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

/** Options of {@link layerNormBackward} / {@link rmsNormBackward}. */
export interface NormBackwardOptions {
  /** The forward's eps. */
  eps: number;
  /** LayerNorm only: the forward had a bias (its gradient Σ g is returned third). */
  bias?: boolean;
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
 * {@link layerNormBackward} from public ops only (arguments as there, unchecked), so it can
 * itself be differentiated: the fallback of backends without the kernel, and what autograd's
 * `layerNorm` rule records when backward is recorded (`createGraph`).
 */
export function layerNormBackwardComposite(
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  options: NormBackwardOptions,
): [Tensor, Tensor | null, Tensor | null] {
  return normBackwardComposite(x, weight, g, options.eps, true, !!options.bias);
}

/** {@link rmsNormBackward} from public ops only, as {@link layerNormBackwardComposite}. */
export function rmsNormBackwardComposite(
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  options: NormBackwardOptions,
): [Tensor, Tensor | null] {
  const [dx, dw] = normBackwardComposite(x, weight, g, options.eps, false, false);
  return [dx, dw];
}

/** Shared body of the fused norm backwards: [dx, dweight or null, dbias or null]. */
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
  const outs = dispatch(op, inputs, attrs, (): Tensor[] => {
    const be = x.backend;
    if (!be.normBackward) {
      const [dx, dw, db] = normBackwardComposite(x, weight, g, eps, center, bias);
      return [dx, ...(dw ? [dw] : []), ...(db ? [db] : [])];
    }
    return withTemps((tmp) => {
      const [xc, gc] = [tmp(contiguous(x)), tmp(contiguous(g))];
      const dx = empty(be, x.shape, x.dtype);
      const stats = tmp(empty(be, [xc.size / Math.max(n, 1), 2], 'float32'));
      // the kernel writes dweight's column sums alongside dbias's, so it gets a buffer either way
      const dw = weight || bias ? empty(be, [n], x.dtype) : null;
      const db = bias ? empty(be, [n], x.dtype) : null;
      if (x.size > 0) {
        be.normBackward!(
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
    });
  });
  return [outs[0], weight ? outs[1] : null, bias ? outs[weight ? 2 : 1] : null];
}

/**
 * The norm backward from public ops, mean and 1/std recomputed from x: with x̂ = (x − μ)·rstd
 * (μ = 0 for RMSNorm) and ĝ = g·weight, dx = rstd·(ĝ − x̂·mean(ĝ·x̂) − mean(ĝ)) (the last term
 * for LayerNorm only), dweight = Σ_rows g·x̂, dbias = Σ_rows g. Every result is a fresh tensor.
 */
function normBackwardComposite(
  x: Tensor,
  weight: Tensor | null,
  g: Tensor,
  eps: number,
  center: boolean,
  bias: boolean,
): [Tensor, Tensor | null, Tensor | null] {
  return withTemps((tmp) => {
    const xc = center ? tmp(x.sub(tmp(x.mean(-1, true)))) : x;
    const rstd = tmp(tmp(tmp(tmp(xc.square()).mean(-1, true)).add(eps)).rsqrt());
    const xhat = tmp(xc.mul(rstd));
    const gh = weight ? tmp(g.mul(weight)) : g;
    let inner = tmp(gh.sub(tmp(xhat.mul(tmp(tmp(gh.mul(xhat)).mean(-1, true))))));
    if (center) inner = tmp(inner.sub(tmp(gh.mean(-1, true))));
    const dx = rstd.mul(inner);
    const lead = x.shape.slice(0, -1).map((_, i) => i);
    // over the rows; with none (1-D x) a reshape still gives a new handle that stays connected
    // to `t` in a recorded graph (an alias would not)
    const sumRows = (t: Tensor) => (lead.length > 0 ? t.sum(lead) : t.reshape(t.shape));
    const dw = weight ? sumRows(tmp(g.mul(xhat))) : null;
    const db = bias ? sumRows(g) : null;
    return [dx, dw, db];
  });
}
