/**
 * An autograd-specific failure: a gradient requested through a non-differentiable op, a
 * graph already freed by an earlier backward, a saved tensor modified in place, a rule that
 * returned a gradient of the wrong shape. The message names the op and says how to fix it.
 */
export class AutogradError extends Error {
  override name = 'AutogradError';
}
