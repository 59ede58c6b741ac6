/**
 * The gradient of `crossEntropy` with respect to the logits: the fused op (one row kernel where
 * the backend has it) and the composite from public ops that is both its fallback and what
 * autograd records when backward is itself differentiated.
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { oneHot } from './indexing.js';
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
  return dispatch('crossEntropyBackward', [logits, targets, gradOut], { ignoreIndex, reduction }, () => {
    const be = logits.backend;
    if (!be.crossEntropyBackward)
      return crossEntropyBackwardComposite(logits, targets, gradOut, { ignoreIndex, reduction });
    return withTemps((tmp) => {
      const rows = tmp(contiguous(tmp(reshape(logits, [N, C]))));
      const t = tmp(contiguous(tmp(reshape(targets, [N]))));
      // the per-row upstream gradient: g (broadcast with stride 0), g/count, or g itself
      let scale: Tensor;
      if (reduction === 'none') scale = tmp(contiguous(tmp(reshape(gradOut, [N]))));
      else {
        const count = () => tmp(tmp(tmp(t.ne(ignoreIndex)).cast(logits.dtype)).sum());
        const g = reduction === 'mean' ? tmp(gradOut.div(count())) : gradOut;
        scale = tmp(expand(g, [N]));
      }
      const out = tmp(empty(be, [N, C], logits.dtype));
      if (out.size > 0)
        be.crossEntropyBackward!(rows.view_(), t.view_(), scale.view_(), ignoreIndex, out.view_());
      return reshape(out, logits.shape);
    });
  });
}

/**
 * {@link crossEntropyBackward} from public ops only (arguments as there, unchecked), so it can
 * itself be differentiated: the fallback of backends without the kernel, and what autograd's
 * `crossEntropy` rule records when backward is recorded (`createGraph`).
 */
export function crossEntropyBackwardComposite(
  logits: Tensor,
  targets: Tensor,
  gradOut: Tensor,
  options: CrossEntropyBackwardOptions = {},
): Tensor {
  const { ignoreIndex = -100, reduction = 'mean' } = options;
  const C = logits.shape[logits.ndim - 1];
  return withTemps((tmp) => {
    const valid = tmp(targets.ne(ignoreIndex));
    const hot = tmp(oneHot(tmp(where(valid, targets, 0)), C, { dtype: logits.dtype }));
    // the upstream gradient of each row's loss: g, or g / count for the mean
    const scale = reduction === 'mean' ? tmp(gradOut.div(tmp(tmp(valid.cast(logits.dtype)).sum()))) : gradOut;
    const perRow = tmp(tmp(where(valid, scale, 0)).unsqueeze(-1));
    return tmp(tmp(logits.softmax(-1)).sub(hot)).mul(perRow);
  });
}
