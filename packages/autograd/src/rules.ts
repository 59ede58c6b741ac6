/**
 * Every gradient rule, in one table: for each differentiable op of @kiln/tensor's op table
 * (`OPS`), what the rule saves in forward and how it maps the gradient of the output(s) to
 * gradients of the inputs (vector-Jacobian products). The table's type is derived from `OPS`, so
 * a missing or misspelled rule is a type error and `ctx.attrs` has the op's attribute type.
 * Rules are written with tensor ops, so they run on every backend, and when backward records
 * them (`createGraph`) they can be differentiated again.
 *
 * Conventions (see docs/autograd.md, "Adding an op"):
 * - `backward(ctx, g)` returns one entry per input: a tensor with exactly that input's shape and
 *   dtype, or null when the input gets no gradient (indices, masks) or it is zero.
 * - Only tensors listed in `saveInputs`/`saveOutputs` can be read with `ctx.input(i)` /
 *   `ctx.output(i)`; shapes and dtypes of every input are always available without saving.
 * - Rules run inside a scope: temporaries are disposed automatically; return fresh tensors or
 *   `g` itself (the engine aliases shared results).
 * - Binary ops broadcast without recording an `expand`: undo it with `sumTo(grad, inputShape)`.
 * - Skip work for inputs that do not need a gradient (`ctx.needs[i]`).
 */
import {
  arange,
  combineRows,
  type DType,
  dispatchRows,
  groupedMatmul,
  groupedOuter,
  isFloat,
  type MatmulActivation,
  matmulEpilogue,
  type OpAttrs,
  type OpName,
  pad,
  type Shape,
  scatterAdd,
  slotDots,
  type Tensor,
  where,
} from '@kiln/tensor';
import {
  activationBackward,
  activationBackwardComposite,
  attentionBackward,
  attentionBackwardComposite,
  crossEntropyBackward,
  crossEntropyBackwardComposite,
  type DifferentiableOp,
  embeddingBackward,
  layerNormBackward,
  layerNormBackwardComposite,
  type NonDifferentiableOp,
  OPS,
  rmsNormBackward,
  rmsNormBackwardComposite,
  softmaxBackward,
  softmaxBackwardComposite,
} from '@kiln/tensor/internal';
import { isGradEnabled } from './mode.js';
import { alongAxis, flip, keptShape, sumTo, unreduce, zerosOn } from './rule-helpers.js';

/** What the backward of op `K`'s rule sees. */
export interface BackwardContext<K extends DifferentiableOp = DifferentiableOp> {
  /** The op's non-tensor arguments, as dispatch reported them. */
  readonly attrs: Readonly<OpAttrs<K>>;
  /** Saved input `i` (must be listed in the rule's `saveInputs`). */
  input(i: number): Tensor;
  /** Saved output `i` (must be listed in the rule's `saveOutputs`). */
  output(i: number): Tensor;
  /** Shapes of all inputs. */
  readonly inputShapes: readonly Shape[];
  /** dtypes of all inputs. */
  readonly inputDTypes: readonly DType[];
  /** Which inputs need a gradient (others may get null). */
  readonly needs: readonly boolean[];
  /** Gradients of all outputs (null where none arrived); `g` is entry 0, materialised. */
  readonly outputGrads: readonly (Tensor | null)[];
}

/** A gradient rule for op `K`: what to save in forward, and the vector-Jacobian product in backward. */
export interface Rule<K extends DifferentiableOp = DifferentiableOp> {
  /** Input positions backward reads (or 'all'); positions the op was not given are skipped. */
  readonly saveInputs?: readonly number[] | 'all';
  /** Output positions backward reads; positions the op did not produce are skipped. */
  readonly saveOutputs?: readonly number[];
  /** Gradients of the inputs, given the gradient `g` of output 0. */
  backward(ctx: BackwardContext<K>, g: Tensor): readonly (Tensor | null | undefined)[];
}

/** The rule table's type: exactly one rule per differentiable op of the op table. */
export type Rules = { readonly [K in DifferentiableOp]: Rule<K> };

/** True when `op` has a rule in {@link RULES} (its kind in the op table is `differentiable`). */
export function isDifferentiable(op: OpName): op is DifferentiableOp {
  return OPS[op].kind === 'differentiable';
}

/**
 * Ops that have no gradient, and why (a gradient requested through them is an error): the
 * `nonDifferentiable` ops of @kiln/tensor's op table, with the table's reasons.
 */
export const NON_DIFFERENTIABLE: Readonly<Record<NonDifferentiableOp, string>> = Object.freeze(
  Object.fromEntries(
    Object.entries(OPS).flatMap(([op, spec]) =>
      spec.kind === 'nonDifferentiable' ? [[op, spec.reason]] : [],
    ),
  ) as Record<NonDifferentiableOp, string>,
);

/** Step functions: the derivative is zero wherever it exists (as in PyTorch). */
const ZERO = { backward: () => [null] };

/** Product of the sizes of `axes`. */
function count(shape: Shape, axes: readonly number[]): number {
  return axes.reduce((n, a) => n * shape[a], 1);
}

/** All axes but the last (the "rows" of a norm over the last dimension). */
function leadAxes(shape: Shape): number[] {
  return shape.slice(0, -1).map((_, i) => i);
}

/** Sums over `axes`, or returns `t` when there is nothing to sum. */
function sumOver(t: Tensor, axes: number[]): Tensor {
  return axes.length > 0 ? t.sum(axes) : t;
}

export const RULES: Rules = {
  // ---- elementwise, one operand ---------------------------------------------------------------
  neg: { backward: (_, g) => [g.neg()] },
  abs: { saveInputs: [0], backward: (c, g) => [g.mul(c.input(0).sign())] },
  exp: { saveOutputs: [0], backward: (c, g) => [g.mul(c.output(0))] },
  log: { saveInputs: [0], backward: (c, g) => [g.div(c.input(0))] },
  sqrt: { saveOutputs: [0], backward: (c, g) => [g.div(c.output(0).mul(2))] },
  // d/dx x^-1/2 = -1/2 x^-3/2 = -y³/2
  rsqrt: { saveOutputs: [0], backward: (c, g) => [g.mul(c.output(0).square().mul(c.output(0))).mul(-0.5)] },
  sin: { saveInputs: [0], backward: (c, g) => [g.mul(c.input(0).cos())] },
  cos: { saveInputs: [0], backward: (c, g) => [g.mul(c.input(0).sin()).neg()] },
  tanh: { saveOutputs: [0], backward: (c, g) => [g.mul(c.output(0).square().neg().add(1))] },
  sigmoid: {
    saveOutputs: [0],
    backward: (c, g) => {
      const y = c.output(0);
      return [g.mul(y.mul(y.neg().add(1)))];
    },
  },
  // y > 0 exactly where x > 0, and the output is what forward keeps anyway
  relu: { saveOutputs: [0], backward: (c, g) => [where(c.output(0).gt(0), g, 0)] },
  // d/dx of x·Φ(x) (or its tanh approximation) and x·σ(x): one fused kernel, or the composite
  // derivative when backward records itself (createGraph), so grad(grad(f)) still works
  gelu: {
    saveInputs: [0],
    backward: (c, g) => [activationGrad(c.attrs.approximate === 'tanh' ? 'geluTanh' : 'gelu', c.input(0), g)],
  },
  silu: { saveInputs: [0], backward: (c, g) => [activationGrad('silu', c.input(0), g)] },
  square: { saveInputs: [0], backward: (c, g) => [g.mul(c.input(0).mul(2))] },
  reciprocal: { saveOutputs: [0], backward: (c, g) => [g.mul(c.output(0).square()).neg()] },
  sign: ZERO,
  floor: ZERO,
  ceil: ZERO,
  round: ZERO,
  // the gradient passes where min <= x <= max (bounds included, as in PyTorch)
  clamp: {
    saveInputs: [0],
    backward: (c, g) => {
      const x = c.input(0);
      const { min, max } = c.attrs;
      let inside: Tensor | null = min === undefined ? null : x.ge(min);
      if (max !== undefined) inside = inside ? inside.logicalAnd(x.le(max)) : x.le(max);
      return [inside ? where(inside, g, 0) : g];
    },
  },

  // ---- elementwise, two operands (broadcasting undone with sumTo) -----------------------------
  add: {
    backward: (c, g) => [
      c.needs[0] ? sumTo(g, c.inputShapes[0]) : null,
      c.needs[1] ? sumTo(g, c.inputShapes[1]) : null,
    ],
  },
  sub: {
    backward: (c, g) => [
      c.needs[0] ? sumTo(g, c.inputShapes[0]) : null,
      c.needs[1] ? sumTo(g.neg(), c.inputShapes[1]) : null,
    ],
  },
  mul: {
    saveInputs: [0, 1],
    backward: (c, g) => [
      c.needs[0] ? sumTo(g.mul(c.input(1)), c.inputShapes[0]) : null,
      c.needs[1] ? sumTo(g.mul(c.input(0)), c.inputShapes[1]) : null,
    ],
  },
  div: {
    saveInputs: [0, 1],
    backward: (c, g) => {
      const [a, b] = [c.input(0), c.input(1)];
      return [
        c.needs[0] ? sumTo(g.div(b), c.inputShapes[0]) : null,
        c.needs[1] ? sumTo(g.mul(a).div(b.square()).neg(), c.inputShapes[1]) : null,
      ];
    },
  },
  // d/da a^b = b·a^(b-1) (taken as 0 where b = 0); d/db a^b = a^b·ln a (taken as 0 where a = 0, b >= 0)
  pow: {
    saveInputs: [0, 1],
    backward: (c, g) => {
      const [a, b] = [c.input(0), c.input(1)];
      const ga = c.needs[0] ? where(b.eq(0), 0, g.mul(b).mul(a.pow(b.sub(1)))) : null;
      const gb = c.needs[1] ? where(a.eq(0).logicalAnd(b.ge(0)), 0, g.mul(a.pow(b)).mul(a.log())) : null;
      return [ga && sumTo(ga, c.inputShapes[0]), gb && sumTo(gb, c.inputShapes[1])];
    },
  },
  // ties split the gradient evenly (as in PyTorch)
  maximum: { saveInputs: [0, 1], backward: (c, g) => minMaxGrads(c, g, (a, b) => a.gt(b)) },
  minimum: { saveInputs: [0, 1], backward: (c, g) => minMaxGrads(c, g, (a, b) => a.lt(b)) },
  where: {
    saveInputs: [0],
    backward: (c, g) => {
      const cond = c.input(0);
      return [
        null,
        c.needs[1] ? sumTo(where(cond, g, 0), c.inputShapes[1]) : null,
        c.needs[2] ? sumTo(where(cond, 0, g), c.inputShapes[2]) : null,
      ];
    },
  },

  // ---- reductions ----------------------------------------------------------------------------
  sum: { backward: (c, g) => [unreduce(g, c.inputShapes[0], c.attrs.axes, c.attrs.keepDim)] },
  mean: {
    backward: (c, g) => {
      const n = count(c.inputShapes[0], c.attrs.axes);
      return [unreduce(g.div(n), c.inputShapes[0], c.attrs.axes, c.attrs.keepDim)];
    },
  },
  // the gradient is shared evenly by the elements that attain the extreme
  max: { saveInputs: [0], saveOutputs: [0], backward: (c, g) => [extremeGrad(c, g)] },
  min: { saveInputs: [0], saveOutputs: [0], backward: (c, g) => [extremeGrad(c, g)] },
  // d/dx_i Πx = Π_{j≠i} x_j: y/x_i where x_i ≠ 0; with exactly one zero in the group, the
  // product of the others at that zero; with two or more zeros, 0.
  prod: {
    saveInputs: [0],
    saveOutputs: [0],
    backward: (c, g) => {
      const { axes, keepDim } = c.attrs;
      const [x, shape] = [c.input(0), c.inputShapes[0]];
      const y = keptShape(c.output(0), shape, axes, keepDim);
      const isZero = x.eq(0);
      const nonzero = where(isZero, 1, x);
      const zeros = isZero.cast(x.dtype).sum(axes, true);
      const atZero = where(zeros.eq(1), nonzero.prod(axes, true), 0);
      const local = where(isZero, atZero, y.div(nonzero));
      return [local.mul(keptShape(g, shape, axes, keepDim))];
    },
  },
  // the gradient of an inclusive prefix sum is the suffix sum of the gradient
  cumsum: { backward: (c, g) => [flip(flip(g, c.attrs.axis).cumsum(c.attrs.axis), c.attrs.axis)] },

  // ---- linear algebra ------------------------------------------------------------------------
  matmul: { saveInputs: [0, 1], backward: (c, g) => matmulGrads(c, g) },
  // out = act(a @ b + bias): the activation's derivative at the pre-activation (one fused
  // elementwise kernel, or the composite under createGraph), then matmul's gradients and the
  // bias's column sums. The pre-activation is output 1 when forward kept it (keepPreActivation:
  // a gradient reaching it, second order through the saved value, adds to the one coming
  // through the activation), else it is recomputed here; `none` needs none. Output 0 is never
  // saved, so a projection's result is not held alive for backward by this op.
  matmulEpilogue: {
    saveInputs: 'all',
    saveOutputs: [1],
    backward: (c, g) =>
      c.attrs.keepPreActivation
        ? epilogueGrads(c, g, () => c.output(1), c.outputGrads[1])
        : epilogueGrads(c, g, () =>
            matmulEpilogue(c.input(0), c.input(1), { bias: c.attrs.hasBias ? c.input(2) : null }),
          ),
  },

  // ---- mixture of experts: each derivative is another op of the same five ------------------
  // y = groupedMatmul(x, w, ends): dx = dy·w[e]ᵀ per group (the same kernel on a transposed
  // view), dw[e] = x_eᵀ·dy_e (groupedOuter).
  groupedMatmul: {
    saveInputs: 'all',
    backward: (c, g) => {
      const [x, w, ends] = [c.input(0), c.input(1), c.input(2)];
      return [
        c.needs[0] ? groupedMatmul(g, w.permute([0, 2, 1]), ends) : null,
        c.needs[1] ? groupedOuter(x, g, ends) : null,
        null,
      ];
    },
  },
  // out[e] = x_eᵀ·y_e: dx_e = y_e·G[e]ᵀ, dy_e = x_e·G[e]
  groupedOuter: {
    saveInputs: 'all',
    backward: (c, g) => {
      const [x, y, ends] = [c.input(0), c.input(1), c.input(2)];
      return [
        c.needs[0] ? groupedMatmul(y, g.permute([0, 2, 1]), ends) : null,
        c.needs[1] ? groupedMatmul(x, g, ends) : null,
        null,
      ];
    },
  },
  // out[s(n,j)] = w(n,j)·x[n]: dx[n] = Σ_j w(n,j)·G[s(n,j)], dw(n,j) = x[n]·G[s(n,j)]
  dispatchRows: {
    saveInputs: 'all',
    backward: (c, g) => {
      const [x, slots] = [c.input(0), c.input(1)];
      const gates = c.attrs.gated ? c.input(2) : null;
      const grads = [c.needs[0] ? combineRows(g, slots, gates) : null, null];
      if (gates) grads.push(c.needs[2] ? slotDots(x, g, slots) : null);
      return grads;
    },
  },
  // out[n] = Σ_j w(n,j)·y[s(n,j)]: dy[s(n,j)] = w(n,j)·G[n], dw(n,j) = G[n]·y[s(n,j)]
  combineRows: {
    saveInputs: 'all',
    backward: (c, g) => {
      const [y, slots] = [c.input(0), c.input(1)];
      const gates = c.attrs.gated ? c.input(2) : null;
      const grads = [c.needs[0] ? dispatchRows(g, slots, c.inputShapes[0][0], gates) : null, null];
      if (gates) grads.push(c.needs[2] ? slotDots(g, y, slots) : null);
      return grads;
    },
  },
  // out(n,j) = x[n]·y[s(n,j)]: dx[n] = Σ_j G(n,j)·y[s(n,j)], dy[s(n,j)] = G(n,j)·x[n]
  slotDots: {
    saveInputs: 'all',
    backward: (c, g) => {
      const [x, y, slots] = [c.input(0), c.input(1), c.input(2)];
      return [
        c.needs[0] ? combineRows(y, slots, g) : null,
        c.needs[1] ? dispatchRows(x, slots, c.inputShapes[1][0], g) : null,
        null,
      ];
    },
  },

  // ---- fused building blocks -----------------------------------------------------------------
  // Each calls its fused backward op (one kernel where the backend has it) while backward is
  // not recorded, and records that op's composite (the same derivative from public ops, written
  // once in @kiln/tensor) when it is: grad mode is on in a rule exactly then (createGraph), and
  // the composite keeps grad(grad(f)) working.
  // dx = y·(g - Σ g·y)
  softmax: {
    saveOutputs: [0],
    backward: (c, g) => {
      const y = c.output(0);
      const { axis } = c.attrs;
      return [isGradEnabled() ? softmaxBackwardComposite(y, g, axis) : softmaxBackward(y, g, axis)];
    },
  },
  // dx = g - softmax·Σg
  logSoftmax: {
    saveOutputs: [0],
    backward: (c, g) => {
      const y = c.output(0);
      const { axis } = c.attrs;
      return [
        isGradEnabled() ? softmaxBackwardComposite(y, g, axis, true) : softmaxBackward(y, g, axis, true),
      ];
    },
  },
  // Mean and 1/std are recomputed from x (forward does not return them); the fused op computes
  // dx per row and dweight/dbias by one column reduction.
  layerNorm: {
    saveInputs: 'all',
    backward: (c, g) => {
      const { eps, hasWeight, hasBias } = c.attrs;
      const [x, w] = [c.input(0), hasWeight ? c.input(1) : null];
      const backward = isGradEnabled() ? layerNormBackwardComposite : layerNormBackward;
      const [dx, dw, db] = backward(x, w, g, { eps, bias: hasBias });
      const grads: (Tensor | null)[] = [c.needs[0] ? dx : null];
      if (hasWeight) grads.push(c.needs[1] ? dw : null);
      if (hasBias) grads.push(c.needs[grads.length] ? db : null);
      return grads;
    },
  },
  rmsNorm: {
    saveInputs: 'all',
    backward: (c, g) => {
      const { eps, hasWeight } = c.attrs;
      const [x, w] = [c.input(0), hasWeight ? c.input(1) : null];
      const backward = isGradEnabled() ? rmsNormBackwardComposite : rmsNormBackward;
      const [dx, dw] = backward(x, w, g, { eps });
      return hasWeight ? [c.needs[0] ? dx : null, c.needs[1] ? dw : null] : [c.needs[0] ? dx : null];
    },
  },
  // d loss_n / d logits_n = softmax(logits_n) - onehot(t_n), scaled by the upstream gradient of
  // loss_n (g, g/count for the mean) and zero for ignored targets; the fused kernel recomputes
  // the probabilities inside the gradient kernel and never stores them.
  crossEntropy: {
    saveInputs: [0, 1],
    backward: (c, g) => {
      const [logits, targets] = [c.input(0), c.input(1)];
      const backward = isGradEnabled() ? crossEntropyBackwardComposite : crossEntropyBackward;
      return [backward(logits, targets, g, c.attrs), null];
    },
  },

  // Flash-style: backward recomputes the probabilities from q, k and the saved log-sum-exp
  // (output 1) instead of keeping the Tq×Tk matrix. Under createGraph the composite (which
  // recomputes them with a softmax) is recorded instead, so the gradient can be differentiated.
  // Inputs 3 and 4, when the mask has visible ranges, are those ranges (int32: no gradient).
  attention: {
    saveInputs: 'all',
    saveOutputs: [0, 1],
    backward: (c, g) => {
      if (c.outputGrads[1])
        throw new Error('attention: gradients through the saved log-sum-exp are not supported');
      const [q, k, v] = [c.input(0), c.input(1), c.input(2)];
      const { causal, scale, masked } = c.attrs;
      const mask = { causal, ranges: masked ? { keys: c.input(3), queries: c.input(4) } : null };
      const grads = isGradEnabled()
        ? attentionBackwardComposite(q, k, v, g, { scale, mask })
        : attentionBackward(q, k, v, c.output(0), c.output(1), g, { scale, mask });
      return [...grads.map((t, i) => (c.needs[i] ? t : null)), ...(masked ? [null, null] : [])];
    },
  },

  // ---- indexing ------------------------------------------------------------------------------
  // repeated indices accumulate: scatter-add is exactly the adjoint of gather
  gather: {
    saveInputs: [1],
    backward: (c, g) => [scatterAdd(zerosOn(g, c.inputShapes[0]), c.attrs.axis, c.input(1), g), null],
  },
  indexSelect: {
    saveInputs: [1],
    backward: (c, g) => {
      const axis = c.attrs.axis;
      // an embedding lookup: the fused kernel sums each row's positions in order (deterministic,
      // and faster than scatter-add on lavapipe at 2048 ids × 128–768 columns); the scatter-add
      // composite stays for other axes and when backward is itself recorded
      if (axis === 0 && isFloat(g.dtype) && !isGradEnabled())
        return [embeddingBackward(g, c.input(1), c.inputShapes[0][0]), null];
      const index = alongAxis(c.input(1), axis, g.shape);
      return [scatterAdd(zerosOn(g, c.inputShapes[0]), axis, index, g), null];
    },
  },
  scatterAdd: {
    saveInputs: [1],
    backward: (c, g) => [c.needs[0] ? g : null, null, c.needs[2] ? g.gather(c.attrs.axis, c.input(1)) : null],
  },
  topk: {
    saveOutputs: [1],
    backward: (c, g) => [scatterAdd(zerosOn(g, c.inputShapes[0]), c.attrs.axis, c.output(1), g)],
  },

  // ---- joins and padding ---------------------------------------------------------------------
  concat: {
    backward: (c, g) => {
      const { axis, sizes } = c.attrs;
      let start = 0;
      return sizes.map((size, i) => {
        const piece = c.needs[i] ? g.slice(axis, start, start + size) : null;
        start += size;
        return piece;
      });
    },
  },
  pad: {
    backward: (c, g) => {
      let gx = g;
      c.attrs.widths.forEach(([before], i) => {
        if (gx.shape[i] !== c.inputShapes[0][i]) gx = gx.slice(i, before, before + c.inputShapes[0][i]);
      });
      return [gx];
    },
  },

  // ---- views and conversions -----------------------------------------------------------------
  reshape: { backward: (c, g) => [g.reshape(c.inputShapes[0])] },
  permute: {
    backward: (c, g) => {
      const { axes } = c.attrs;
      const inverse = new Array<number>(axes.length);
      axes.forEach((a, i) => {
        inverse[a] = i;
      });
      return [g.permute(inverse)];
    },
  },
  // the gradient lands on the sliced positions; zeros elsewhere
  slice: {
    backward: (c, g) => {
      const { axis, start, end, step } = c.attrs;
      const shape = c.inputShapes[0];
      if (step === 1)
        return [
          pad(
            g,
            shape.map((d, i) => (i === axis ? [start, d - end] : [0, 0]) as [number, number]),
          ),
        ];
      const positions = arange(start, start + g.shape[axis] * step, step, {
        dtype: 'int32',
        backend: g.backend,
      });
      return [scatterAdd(zerosOn(g, shape), axis, alongAxis(positions, axis, g.shape), g)];
    },
  },
  expand: { backward: (c, g) => [sumTo(g, c.inputShapes[0])] },
  contiguous: { backward: (_, g) => [g] },
  // float → float casts pass the gradient back in the input's dtype; from integers there is none
  cast: { backward: (c, g) => [isFloat(c.inputDTypes[0]) ? g.cast(c.inputDTypes[0]) : null] },
};

function minMaxGrads(
  c: BackwardContext,
  g: Tensor,
  wins: (a: Tensor, b: Tensor) => Tensor,
): (Tensor | null)[] {
  const [a, b] = [c.input(0), c.input(1)];
  const tie = where(a.eq(b), g.mul(0.5), 0);
  return [
    c.needs[0] ? sumTo(where(wins(a, b), g, tie), c.inputShapes[0]) : null,
    c.needs[1] ? sumTo(where(wins(b, a), g, tie), c.inputShapes[1]) : null,
  ];
}

function extremeGrad(c: BackwardContext<'max' | 'min'>, g: Tensor): Tensor {
  const { axes, keepDim } = c.attrs;
  const [x, shape] = [c.input(0), c.inputShapes[0]];
  const hit = x.eq(keptShape(c.output(0), shape, axes, keepDim));
  const share = keptShape(g, shape, axes, keepDim).div(hit.cast(x.dtype).sum(axes, true));
  return where(hit, share, 0);
}

/** g · act′(x): the fused kernel, or the composite while backward records itself (createGraph). */
function activationGrad(activation: MatmulActivation, x: Tensor, g: Tensor): Tensor {
  return isGradEnabled()
    ? activationBackwardComposite(activation, x, g)
    : activationBackward(activation, x, g);
}

/**
 * Gradients [a, b, bias?] of `matmulEpilogue`; `pre` yields the value before the activation,
 * `gradOfPre` is the gradient that reached the kept pre-activation, if any.
 */
function epilogueGrads(
  c: BackwardContext<'matmulEpilogue'>,
  g: Tensor,
  pre: () => Tensor,
  gradOfPre: Tensor | null = null,
): (Tensor | null)[] {
  const { activation } = c.attrs;
  let gPre = g;
  if (activation !== 'none') gPre = activationGrad(activation, pre(), g);
  if (gradOfPre) gPre = gPre.add(gradOfPre);
  const grads = matmulGrads(c, gPre);
  if (c.attrs.hasBias) grads.push(c.needs[2] ? sumOver(gPre, leadAxes(gPre.shape)) : null);
  return grads;
}

// NumPy matmul semantics: a 1-D left operand is a row vector [1, k], a 1-D right operand a column
// [k, 1], and that dimension is dropped from the result; batch dimensions broadcast.
function matmulGrads(c: BackwardContext, g: Tensor): (Tensor | null)[] {
  const [aShape, bShape] = c.inputShapes;
  const a = c.input(0);
  const b = c.input(1);
  const A = a.ndim === 1 ? a.reshape([1, aShape[0]]) : a;
  const B = b.ndim === 1 ? b.reshape([bShape[0], 1]) : b;
  const m = A.shape[A.ndim - 2];
  const k = A.shape[A.ndim - 1];
  const n = B.shape[B.ndim - 1];
  const dropped = (a.ndim === 1 ? 0 : 1) + (b.ndim === 1 ? 0 : 1);
  const G = g.reshape([...g.shape.slice(0, g.ndim - dropped), m, n]);
  let ga: Tensor | null = null;
  let gb: Tensor | null = null;
  if (c.needs[0]) ga = sumTo(G.matmul(B.transpose(-2, -1)), A.shape).reshape(aShape);
  if (c.needs[1]) {
    // A weight shared by every batch row (a Linear layer): one [k, rows] @ [rows, n] product
    // instead of a batched product followed by a sum over the batch.
    gb =
      B.ndim === 2 && A.ndim > 2
        ? A.reshape([-1, k])
            .transpose(0, 1)
            .matmul(G.reshape([-1, n]))
        : sumTo(A.transpose(-2, -1).matmul(G), B.shape);
    gb = gb.reshape(bShape);
  }
  return [ga, gb];
}
