/**
 * The functional core: `grad` and `valueAndGrad` turn a function of tensors into a function
 * that also returns gradients. Everything else (backward, Parameter.grad, recompute) is built
 * on the same recording and engine.
 */
import { isFloat, onesLike, scope, Tensor } from '@kiln/tensor';
import { runBackward } from './engine.js';
import { AutogradError } from './errors.js';
import {
  makeLeaf,
  mergeIntoParent,
  popTape,
  pushTape,
  type Ref,
  refOf,
  releaseTape,
  restoreRef,
  Tape,
  trackedAlias,
} from './graph.js';
import { enableGrad, isGradEnabled } from './mode.js';
import type { Module } from './module.js';
import { zerosOn } from './rule-helpers.js';
import { flattenTree, mapTree } from './tree.js';

/** The gradient structure of an argument: tensors become their gradients, a Module a { name: gradient } record. */
export type GradOf<T> = T extends Tensor
  ? Tensor
  : T extends Module
    ? Record<string, Tensor>
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: GradOf<T[K]> }
      : T extends object
        ? { -readonly [K in keyof T]: GradOf<T[K]> }
        : never;

/** Which positional arguments to differentiate: one index, or a list. */
export type Argnums = number | readonly number[];

/** Gradients for `argnums` of a function with arguments `A`. */
export type GradsFor<A extends unknown[], N> = N extends number
  ? GradOf<A[N]>
  : N extends readonly number[]
    ? { -readonly [K in keyof N]: N[K] extends number ? GradOf<A[N[K]]> : never }
    : never;

/** Options of {@link grad}. */
export interface GradOptions<N extends Argnums> {
  /** The argument(s) to differentiate with respect to (default 0). A list returns a list of gradients. */
  argnums?: N;
}

/** Options of {@link valueAndGrad}. */
export interface ValueAndGradOptions<N extends Argnums> extends GradOptions<N> {
  /** `f` returns `[loss, aux]`: aux (any tensors or data) is passed through without being differentiated. */
  hasAux?: boolean;
}

// Functional calls currently running f: gradients computed inside another call must stay
// differentiable (the outer call may differentiate them: grad(grad(f))).
let depth = 0;

interface Target {
  readonly tensor: Tensor;
  readonly ref: Ref;
  readonly previous: Ref | undefined;
  readonly temp: boolean;
}

function collectTargets(args: unknown[], nums: number[], who: string): Target[] {
  const targets: Target[] = [];
  const seen = new Set<Tensor>();
  for (const n of nums) {
    if (!Number.isInteger(n) || n < 0 || n >= args.length) {
      throw new RangeError(`${who}: argnums ${n} is out of range for a call with ${args.length} argument(s)`);
    }
    for (const { path, tensor } of flattenTree(args[n], `argument ${n}`, who)) {
      tensor.assertAlive(who);
      if (!isFloat(tensor.dtype)) {
        throw new AutogradError(
          `${who}: ${path} is ${tensor.dtype} [${tensor.shape}]; only float tensors can be differentiated (pass integer data such as ids or targets through an argument not listed in argnums)`,
        );
      }
      if (seen.has(tensor)) continue;
      seen.add(tensor);
      const previous = refOf(tensor);
      if (previous && previous.node.kind !== 'constant')
        targets.push({ tensor, ref: previous, previous, temp: false });
      else targets.push({ tensor, ref: makeLeaf(tensor, 'input'), previous, temp: true });
    }
  }
  return targets;
}

/**
 * The gradient to hand out for `target`: zeros when no path reached it, its own handle when
 * another target already got the same one (two handles on one variable), contiguous otherwise
 * (rules may leave broadcast views).
 */
function gradientFor(target: Tensor, found: Tensor | undefined, used: Set<Tensor>): Tensor {
  if (!found) return zerosOn(target, target.shape);
  if (used.has(found)) return trackedAlias(found);
  return found.isContiguous ? found : found.contiguous();
}

interface Differentiated {
  value?: Tensor;
  aux?: unknown;
  grads: unknown;
}

interface DifferentiateOptions {
  hasAux: boolean;
  /** Return the value (grad() drops it). */
  keepValue: boolean;
  /** Name for error messages. */
  who: string;
  /**
   * The gradient flowing into f's output (a vector-Jacobian product): f may then return any
   * shape. Default: f returns one element and the seed is 1.
   */
  cotangent?: Tensor;
}

/** @internal The functional core: value, aux and gradients of `f` at `args`. */
export function differentiate(
  f: (...args: any[]) => unknown,
  args: unknown[],
  argnums: Argnums,
  options: DifferentiateOptions,
): Differentiated {
  const { hasAux, keepValue, who, cotangent } = options;
  if (typeof f !== 'function') throw new TypeError(`${who}: expected a function, got ${typeof f}`);
  const nums = typeof argnums === 'number' ? [argnums] : [...argnums];
  const targets = collectTargets(args, nums, who);
  // Gradients stay differentiable when an enclosing computation may differentiate them.
  const createGraph = isGradEnabled() && (depth > 0 || targets.some((t) => t.ref.node.kind === 'op'));
  const tape = new Tape();
  try {
    return scope(() => {
      pushTape(tape);
      depth++;
      let out: unknown;
      try {
        out = enableGrad(() => f(...args));
      } finally {
        depth--;
        popTape(tape);
      }
      if (out instanceof Promise) {
        throw new TypeError(
          `${who}: f returned a Promise; f must be synchronous (read values back after ${who} returns)`,
        );
      }
      let value: unknown = out;
      let aux: unknown;
      if (hasAux) {
        if (!Array.isArray(out) || out.length !== 2)
          throw new TypeError(`${who}: with hasAux, f must return [loss, aux]`);
        [value, aux] = out;
      }
      if (!(value instanceof Tensor))
        throw new TypeError(
          `${who}: f must return a Tensor${hasAux ? ' as the first element of [loss, aux]' : ''}, got ${typeof value}`,
        );
      if (cotangent && (!isFloat(value.dtype) || value.shape.join() !== cotangent.shape.join())) {
        throw new AutogradError(
          `${who}: f returned [${value.shape}] ${value.dtype}; expected float [${cotangent.shape}]`,
        );
      }
      if (!cotangent && (value.size !== 1 || !isFloat(value.dtype))) {
        throw new AutogradError(
          `${who}: f must return a float tensor with one element (a loss), got [${value.shape}] ${value.dtype}; reduce it first, e.g. with .sum() or .mean()`,
        );
      }
      pushTape(tape);
      let results: ReturnType<typeof runBackward>;
      try {
        const nodes = new Set(targets.map((t) => t.ref.node));
        results = runBackward(
          [{ tensor: value, grad: cotangent ? cotangent.alias() : onesLike(value) }],
          (node) => nodes.has(node),
          {
            createGraph,
            retainGraph: createGraph,
          },
        );
      } finally {
        popTape(tape);
      }
      const byTensor = new Map<Tensor, Tensor>();
      const used = new Set<Tensor>();
      for (const t of targets) {
        const g = gradientFor(t.tensor, results.get(t.ref.node)?.[t.ref.index], used);
        used.add(g);
        byTensor.set(t.tensor, g);
      }
      const grads = nums.map((n) => mapTree(args[n], (t) => byTensor.get(t)));
      return {
        value: keepValue ? value : undefined,
        aux,
        grads: typeof argnums === 'number' ? grads[0] : grads,
      };
    });
  } finally {
    if (createGraph) mergeIntoParent(tape);
    else releaseTape(tape);
    for (const t of targets) if (t.temp) restoreRef(t.tensor, t.ref, t.previous);
  }
}

/**
 * Returns a function that computes the gradient of `f` (which must return a one-element float
 * tensor) with respect to the argument(s) `argnums` (default 0). An argument may be a tensor, a
 * Module (gradients by parameter name), or nested arrays/plain objects of those; the gradient
 * has the same structure. Tensors used through closures (e.g. a model's Parameters) are
 * differentiated through but not returned: pass them as an argument to get their gradient.
 *
 * `f` must be synchronous. Tensors it creates and does not return are disposed when the call
 * returns (it runs in a `scope`). Calls nest: `grad(grad(f))` gives second derivatives.
 *
 * ```ts
 * const df = grad((x: Tensor) => x.pow(3).sum());
 * await df(tensor([1, 2])).toArray(); // [3, 12]
 * ```
 */
export function grad<A extends unknown[], const N extends Argnums = 0>(
  f: (...args: A) => Tensor,
  options: GradOptions<N> = {},
): (...args: A) => GradsFor<A, N> {
  const argnums = options.argnums ?? 0;
  return (...args: A) =>
    differentiate(f, args, argnums, { hasAux: false, keepValue: false, who: 'grad' }).grads as GradsFor<A, N>;
}

/**
 * Like {@link grad}, but the returned function gives `[value, gradients]`. With `hasAux`, `f`
 * returns `[loss, aux]` and the result is `[[loss, aux], gradients]` (aux is returned as is,
 * not differentiated). The value and aux are constants (not tracked) unless this call is
 * nested inside another `grad`.
 *
 * ```ts
 * const [loss, g] = valueAndGrad((w: Tensor) => x.matmul(w).square().mean())(w);
 * ```
 */
export function valueAndGrad<A extends unknown[], const N extends Argnums = 0>(
  f: (...args: A) => Tensor,
  options?: ValueAndGradOptions<N> & { hasAux?: false },
): (...args: A) => [Tensor, GradsFor<A, N>];
/** With `hasAux: true`: `f` returns `[loss, aux]` and the result is `[[loss, aux], gradients]`. */
export function valueAndGrad<A extends unknown[], Aux, const N extends Argnums = 0>(
  f: (...args: A) => [Tensor, Aux],
  options: ValueAndGradOptions<N> & { hasAux: true },
): (...args: A) => [[Tensor, Aux], GradsFor<A, N>];
export function valueAndGrad(
  f: (...args: any[]) => any,
  options: ValueAndGradOptions<Argnums> = {},
): (...args: any[]) => any {
  const argnums = options.argnums ?? 0;
  const hasAux = options.hasAux ?? false;
  return (...args: unknown[]) => {
    const r = differentiate(f, args, argnums, { hasAux, keepValue: true, who: 'valueAndGrad' });
    return hasAux ? [[r.value, r.aux], r.grads] : [r.value, r.grads];
  };
}
