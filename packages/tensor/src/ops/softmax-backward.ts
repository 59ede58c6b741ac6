/**
 * The gradient of `softmax` and `logSoftmax` from their output: the fused op (one row kernel
 * where the backend has it) and the composite from public ops that is both its fallback and what
 * autograd records when backward is itself differentiated.
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { empty, requireFloat, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

/**
 * Gradient of `softmax(x, axis)` (or `logSoftmax` with `log`) from its output `y` and upstream
 * gradient `g`: y·(g − Σ g·y), or g − exp(y)·Σ g for log-softmax. One fused row kernel where the
 * backend has it (over the last axis).
 */
export function softmaxBackward(y: Tensor, g: Tensor, axis = -1, log = false): Tensor {
  requireFloat('softmaxBackward', y);
  sameDType('softmaxBackward', y, g);
  if (y.shape.join() !== g.shape.join())
    throw new ShapeError(`softmaxBackward: y ${fmtShape(y.shape)} and g ${fmtShape(g.shape)} must match`);
  const ax = normAxis(axis, y.ndim, 'softmaxBackward');
  return dispatch('softmaxBackward', [y, g], { axis: ax, log }, () => {
    const be = y.backend;
    if (!be.softmaxBackward || ax !== y.ndim - 1) return softmaxBackwardComposite(y, g, ax, log);
    return withTemps((tmp) => {
      const yc = tmp(contiguous(y));
      const gc = tmp(contiguous(g));
      const out = empty(be, y.shape, y.dtype);
      if (out.size > 0) be.softmaxBackward!(yc.view_(), gc.view_(), log, out.view_());
      return out;
    });
  });
}

/**
 * {@link softmaxBackward} from public ops only (arguments as there, unchecked), so it can itself
 * be differentiated: the fallback of backends without the kernel, and what autograd's `softmax`
 * and `logSoftmax` rules record when backward is recorded (`createGraph`).
 */
export function softmaxBackwardComposite(y: Tensor, g: Tensor, axis = -1, log = false): Tensor {
  return withTemps((tmp) => {
    if (log) return g.sub(tmp(tmp(y.exp()).mul(tmp(g.sum(axis, true)))));
    const gy = tmp(g.mul(y));
    return gy.sub(tmp(y.mul(tmp(gy.sum(axis, true)))));
  });
}
