/**
 * Every op `dispatch` knows, in one table: its name (the public function's name, which is also
 * the backend method's and the kernel file's where the op has its own), the type of the
 * attributes it reports, and what kind of op it is. The compiler checks `dispatch` calls against
 * it, `OpRecord` is a union over it, and autograd's rule table is typed from it, so a new op, a
 * misspelled name or wrong attributes are type errors wherever they occur.
 */
import type { MatmulActivation } from './backend.js';
import type { DType } from './dtype.js';

/**
 * What dispatch and autograd do with an op:
 * - `differentiable`: reported to hooks; autograd has a gradient rule for it.
 * - `nonDifferentiable`: reported; its outputs are constants for autograd (`reason` says why).
 * - `backward`: a fused gradient kernel, reported but without a rule of its own (rules call it
 *   only while backward is not recorded; under `createGraph` they record its composite).
 * - `inPlace`: writes into its first input (`assign`); autograd counts the write.
 * - `creation`: makes a tensor from no tensor inputs (nothing to differentiate).
 * - `composite`: built from other public ops and never reported itself: hooks see its parts.
 */
export type OpKind =
  | 'differentiable'
  | 'nonDifferentiable'
  | 'backward'
  | 'inPlace'
  | 'creation'
  | 'composite';

/** Carries an op's attribute type; never present at run time. */
declare const attrsType: unique symbol;

/** One entry of {@link OPS}: the op's kind and, for ops without a gradient, why. */
export interface OpSpec<A = unknown, K extends OpKind = OpKind> {
  readonly kind: K;
  /** Why the op has no gradient rule (empty for differentiable and composite ops). */
  readonly reason: string;
  /** Type-level only: the attributes dispatch reports for the op. */
  readonly [attrsType]?: A;
}

/** Attributes of an op that has none. */
export type NoAttrs = { readonly [key: string]: never };

/** Reductions over axes (sorted, non-negative), keeping the reduced dimensions or not. */
export interface ReduceAttrs {
  readonly axes: readonly number[];
  readonly keepDim: boolean;
}

/** Ops along one (non-negative) axis. */
export interface AxisAttrs {
  readonly axis: number;
}

/** `layerNorm` and its backward: which optional parameters were given. */
export interface LayerNormAttrs {
  readonly eps: number;
  readonly hasWeight: boolean;
  readonly hasBias: boolean;
}

/** `rmsNorm` and its backward. */
export interface RmsNormAttrs {
  readonly eps: number;
  readonly hasWeight: boolean;
}

/** `crossEntropy` and its backward. */
export interface CrossEntropyAttrs {
  readonly ignoreIndex: number;
  readonly reduction: 'mean' | 'sum' | 'none';
}

/** `attention` and its backward; `masked`: the last two inputs are the mask's visible ranges. */
export interface AttentionAttrs {
  readonly causal: boolean;
  readonly scale: number;
  readonly masked: boolean;
}

/** `matmulEpilogue`: `keepPreActivation` means output 1 is the value before the activation. */
export interface MatmulEpilogueAttrs {
  readonly activation: MatmulActivation;
  readonly hasBias: boolean;
  readonly keepPreActivation: boolean;
}

/** Creation ops: the shape and dtype made. */
export interface CreationAttrs {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** Random creation ops: `low`/`high` for `rand` and `randint`, `mean`/`std` for `randn`. */
export interface RandomAttrs extends CreationAttrs {
  readonly low?: number;
  readonly high?: number;
  readonly mean?: number;
  readonly std?: number;
}

const spec = <A, K extends OpKind>(kind: K, reason = ''): OpSpec<A, K> => Object.freeze({ kind, reason });
const differentiable = <A = NoAttrs>() => spec<A, 'differentiable'>('differentiable');
const nonDifferentiable = <A = NoAttrs>(reason: string) =>
  spec<A, 'nonDifferentiable'>('nonDifferentiable', reason);
const fusedBackward = <A>() =>
  spec<A, 'backward'>(
    'backward',
    'it is a fused backward kernel: rules call it only when backward is not recorded, and record its composite otherwise',
  );
const creation = <A extends CreationAttrs>() => spec<A, 'creation'>('creation', 'it has no tensor inputs');
const composite = () => spec<NoAttrs, 'composite'>('composite');

const COMPARISON = 'comparisons return bool';
const LOGICAL = 'logical ops work on bool';
const INDICES = 'it returns integer indices';

/** Every op `dispatch` knows. See {@link OpKind}. */
export const OPS = Object.freeze({
  // ---- elementwise, one operand (ops/elementwise.ts) -------------------------------------------
  neg: differentiable(),
  abs: differentiable(),
  exp: differentiable(),
  log: differentiable(),
  sqrt: differentiable(),
  rsqrt: differentiable(),
  sin: differentiable(),
  cos: differentiable(),
  tanh: differentiable(),
  sigmoid: differentiable(),
  relu: differentiable(),
  /** `approximate: 'tanh'` is GPT-2's tanh form (backend kernel `geluTanh`). */
  gelu: differentiable<{ readonly approximate: 'none' | 'tanh' }>(),
  silu: differentiable(),
  square: differentiable(),
  sign: differentiable(),
  reciprocal: differentiable(),
  floor: differentiable(),
  ceil: differentiable(),
  round: differentiable(),
  clamp: differentiable<{ readonly min: number | undefined; readonly max: number | undefined }>(),
  logicalNot: nonDifferentiable(LOGICAL),

  // ---- elementwise, two operands ---------------------------------------------------------------
  add: differentiable(),
  sub: differentiable(),
  mul: differentiable(),
  div: differentiable(),
  pow: differentiable(),
  maximum: differentiable(),
  minimum: differentiable(),
  eq: nonDifferentiable(COMPARISON),
  ne: nonDifferentiable(COMPARISON),
  lt: nonDifferentiable(COMPARISON),
  le: nonDifferentiable(COMPARISON),
  gt: nonDifferentiable(COMPARISON),
  ge: nonDifferentiable(COMPARISON),
  logicalAnd: nonDifferentiable(LOGICAL),
  logicalOr: nonDifferentiable(LOGICAL),
  where: differentiable(),

  // ---- reductions (ops/reduce.ts) --------------------------------------------------------------
  sum: differentiable<ReduceAttrs>(),
  mean: differentiable<ReduceAttrs>(),
  max: differentiable<ReduceAttrs>(),
  min: differentiable<ReduceAttrs>(),
  prod: differentiable<ReduceAttrs>(),
  argmax: nonDifferentiable<ReduceAttrs>(INDICES),
  argmin: nonDifferentiable<ReduceAttrs>(INDICES),
  cumsum: differentiable<AxisAttrs>(),
  var: composite(),
  logsumexp: composite(),

  // ---- linear algebra (ops/linalg.ts, ops/epilogue.ts) -----------------------------------------
  matmul: differentiable(),
  matmulEpilogue: differentiable<MatmulEpilogueAttrs>(),
  activationBackward: fusedBackward<{ readonly activation: MatmulActivation }>(),

  // ---- mixture of experts (ops/grouped-matmul.ts, ops/slot-rows.ts) ---------------------------
  // closed under differentiation: each rule is written with these ops (docs/moe.md)
  groupedMatmul: differentiable(),
  groupedOuter: differentiable(),
  dispatchRows: differentiable<{ readonly rows: number; readonly gated: boolean }>(),
  combineRows: differentiable<{ readonly gated: boolean }>(),
  slotDots: differentiable(),

  // ---- row ops (ops/nn.ts) and their backwards -------------------------------------------------
  softmax: differentiable<AxisAttrs>(),
  logSoftmax: differentiable<AxisAttrs>(),
  softmaxBackward: fusedBackward<AxisAttrs & { readonly log: boolean }>(),
  layerNorm: differentiable<LayerNormAttrs>(),
  layerNormBackward: fusedBackward<LayerNormAttrs>(),
  rmsNorm: differentiable<RmsNormAttrs>(),
  rmsNormBackward: fusedBackward<RmsNormAttrs>(),
  crossEntropy: differentiable<CrossEntropyAttrs>(),
  crossEntropyBackward: fusedBackward<CrossEntropyAttrs>(),

  // ---- attention (ops/attention.ts) ------------------------------------------------------------
  attention: differentiable<AttentionAttrs>(),
  attentionBackward: fusedBackward<AttentionAttrs>(),

  // ---- optimizer (ops/adamw-update.ts) ---------------------------------------------------------
  adamwUpdate: composite(),

  // ---- indexing (ops/indexing.ts, ops/embedding-backward.ts) -----------------------------------
  gather: differentiable<AxisAttrs>(),
  indexSelect: differentiable<AxisAttrs>(),
  scatterAdd: differentiable<AxisAttrs>(),
  topk: differentiable<{ readonly k: number; readonly axis: number; readonly largest: boolean }>(),
  embedding: composite(),
  embeddingBackward: fusedBackward<{ readonly numRows: number }>(),
  multinomial: composite(),
  oneHot: composite(),

  // ---- joins and padding (ops/join.ts) ---------------------------------------------------------
  concat: differentiable<AxisAttrs & { readonly sizes: readonly number[] }>(),
  pad: differentiable<{ readonly widths: readonly (readonly [number, number])[]; readonly value: number }>(),
  stack: composite(),
  split: composite(),
  tril: composite(),
  triu: composite(),

  // ---- views and conversions (ops/views.ts) ----------------------------------------------------
  reshape: differentiable<{ readonly shape: readonly number[] }>(),
  permute: differentiable<{ readonly axes: readonly number[] }>(),
  slice: differentiable<
    AxisAttrs & { readonly start: number; readonly end: number; readonly step: number }
  >(),
  expand: differentiable<{ readonly shape: readonly number[] }>(),
  contiguous: differentiable(),
  cast: differentiable<{ readonly dtype: DType }>(),
  assign: spec<NoAttrs, 'inPlace'>('inPlace', 'in-place writes are not differentiable'),

  // ---- creation (ops/create.ts) ----------------------------------------------------------------
  tensor: creation<CreationAttrs>(),
  full: creation<CreationAttrs & { readonly value: number }>(),
  rand: creation<RandomAttrs>(),
  randn: creation<RandomAttrs>(),
  randint: creation<RandomAttrs>(),
});

/** The name of an op `dispatch` knows. */
export type OpName = keyof typeof OPS;

/** The attributes op `K` reports (a union of them for a union of names). */
export type OpAttrs<K extends OpName> = K extends OpName
  ? (typeof OPS)[K] extends OpSpec<infer A, OpKind>
    ? A
    : never
  : never;

/** The names of the ops of kind `Kind`. */
export type OpsOfKind<Kind extends OpKind> = {
  [K in OpName]: (typeof OPS)[K]['kind'] extends Kind ? K : never;
}[OpName];

/** Ops with a gradient rule in autograd. */
export type DifferentiableOp = OpsOfKind<'differentiable'>;

/** Ops whose outputs are constants for autograd. */
export type NonDifferentiableOp = OpsOfKind<'nonDifferentiable'>;

/** Ops hooks can see: every op but the composites, whose parts are reported instead. */
export type ReportedOp = Exclude<OpName, OpsOfKind<'composite'>>;
