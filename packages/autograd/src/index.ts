/**
 * @kiln/autograd: reverse-mode automatic differentiation over @kiln/tensor's dispatch path.
 *
 * ```ts
 * import { init, tensor } from '@kiln/tensor';
 * import { grad } from '@kiln/autograd';
 * await init();
 * const df = grad((x) => x.pow(3).sum());
 * console.log(await df(tensor([1, 2])).toArray()); // [3, 12]
 * ```
 * @packageDocumentation
 */

export { type BackwardOptions, backward } from './backward.js';
export { AutogradError } from './errors.js';
export {
  type Argnums,
  type GradOf,
  type GradOptions,
  type GradsFor,
  grad,
  type ValueAndGradOptions,
  valueAndGrad,
} from './functional.js';
export {
  type GradCheckFailure,
  type GradCheckOptions,
  type GradCheckResult,
  gradCheck,
} from './gradcheck.js';
export { detach, graphStats, isTracked } from './graph.js';
export { enableGrad, isGradEnabled, noGrad } from './mode.js';
export { type LoadStateDictOptions, Module, StateDictError, type StateDictMismatch } from './module.js';
export { Parameter, type ParameterOptions } from './parameter.js';
export { recompute } from './recompute.js';
export { type BackwardContext, NON_DIFFERENTIABLE, RULES, type Rule } from './rules.js';
