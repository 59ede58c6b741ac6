import type { BinaryOp, UnaryOp, UnaryParams } from '../backend.js';
import { secondCopyHint } from '../copies.js';
import { dispatch } from '../dispatch.js';
import type { DType } from '../dtype.js';
import { DTypeError, fmtShape } from '../errors.js';
import type { OpAttrs, OpName } from '../op-table.js';
import { Tensor } from '../tensor.js';
import { empty, operand, requireFloat, sameDType, scalarTensor } from './util.js';
import { broadcastAll } from './views.js';

const FLOAT_ONLY = new Set<UnaryOp>([
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'gelu',
  'geluTanh',
  'silu',
  'reciprocal',
  'floor',
  'ceil',
  'round',
]);
const COMPARISONS = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const LOGICAL = new Set<BinaryOp>(['logicalAnd', 'logicalOr']);

/** Unary ops whose name is their backend kernel's and that report no attributes. */
type PlainUnaryOp = Exclude<Extract<UnaryOp, OpName>, 'gelu' | 'clamp'>;

/** Op `op` computed by the backend's unary kernel `kernel` (they differ only for gelu's tanh form). */
function unaryOp<K extends OpName>(
  op: K,
  kernel: UnaryOp,
  x: Tensor,
  attrs: OpAttrs<K>,
  params?: UnaryParams,
): Tensor {
  if (!(x instanceof Tensor))
    throw new TypeError(`${op}: expected a Tensor, got ${typeof x}${secondCopyHint()}`);
  if (FLOAT_ONLY.has(kernel)) requireFloat(op, x);
  if (kernel !== 'logicalNot' && x.dtype === 'bool') {
    throw new DTypeError(
      `${op}: not defined for bool ${fmtShape(x.shape)}; cast with .cast('float32') or .cast('int32')`,
    );
  }
  return dispatch(op, [x], attrs, () => {
    const out = empty(x.backend, x.shape, kernel === 'logicalNot' ? 'bool' : x.dtype);
    if (out.size > 0) x.backend.unary(kernel, x.view_(), out.view_(), params);
    return out;
  });
}

const unary = (op: PlainUnaryOp, x: Tensor): Tensor => unaryOp(op, op, x, {});

function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor))
    throw new TypeError(`${op}: at least one operand must be a Tensor`);
  const A = a instanceof Tensor ? a : operand(a, b as Tensor, op);
  const B = b instanceof Tensor ? b : operand(b, A, op);
  try {
    const logical = LOGICAL.has(op);
    if (!logical) sameDType(op, A, B);
    if (!logical && !COMPARISONS.has(op) && A.dtype === 'bool') {
      throw new DTypeError(
        `${op}: arithmetic is not defined for bool; cast with .cast('int32') or .cast('float32')`,
      );
    }
    const outDType: DType = logical || COMPARISONS.has(op) ? 'bool' : A.dtype;
    return dispatch(op, [A, B], {}, () => {
      const { shape, views, owned } = broadcastAll(op, [A, B]);
      try {
        const out = empty(A.backend, shape, outDType);
        if (out.size > 0) A.backend.binary(op, views[0].view_(), views[1].view_(), out.view_());
        return out;
      } finally {
        for (const t of owned) t.dispose();
      }
    });
  } finally {
    if (A !== a) A.dispose();
    if (B !== b) B.dispose();
  }
}

/** a + b (broadcasting; numbers adopt the tensor's dtype). */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary('add', a, b);
/** a - b. */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary('sub', a, b);
/** a * b. */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary('mul', a, b);
/** a / b (integer division truncates toward zero). */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary('div', a, b);
/** a ** b. */
export const pow = (a: Tensor | number, b: Tensor | number): Tensor => binary('pow', a, b);
/** Elementwise maximum. */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor => binary('maximum', a, b);
/** Elementwise minimum. */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor => binary('minimum', a, b);
/** a == b (bool). */
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binary('eq', a, b);
/** a != b (bool). */
export const ne = (a: Tensor | number, b: Tensor | number): Tensor => binary('ne', a, b);
/** a < b (bool). */
export const lt = (a: Tensor | number, b: Tensor | number): Tensor => binary('lt', a, b);
/** a <= b (bool). */
export const le = (a: Tensor | number, b: Tensor | number): Tensor => binary('le', a, b);
/** a > b (bool). */
export const gt = (a: Tensor | number, b: Tensor | number): Tensor => binary('gt', a, b);
/** a >= b (bool). */
export const ge = (a: Tensor | number, b: Tensor | number): Tensor => binary('ge', a, b);
/** Logical and of truthiness (non-zero is true); any dtypes; bool result. */
export const logicalAnd = (a: Tensor | number, b: Tensor | number): Tensor => binary('logicalAnd', a, b);
/** Logical or of truthiness; bool result. */
export const logicalOr = (a: Tensor | number, b: Tensor | number): Tensor => binary('logicalOr', a, b);
/** Logical not of truthiness; bool result. */
export const logicalNot = (x: Tensor): Tensor => unary('logicalNot', x);

/** -x */
export const neg = (x: Tensor): Tensor => unary('neg', x);
/** |x| */
export const abs = (x: Tensor): Tensor => unary('abs', x);
/** e^x */
export const exp = (x: Tensor): Tensor => unary('exp', x);
/** Natural logarithm. */
export const log = (x: Tensor): Tensor => unary('log', x);
/** Square root. */
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
/** 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
/** sin(x) */
export const sin = (x: Tensor): Tensor => unary('sin', x);
/** cos(x) */
export const cos = (x: Tensor): Tensor => unary('cos', x);
/** tanh(x) */
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
/** 1 / (1 + e^-x) */
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
/** max(x, 0) */
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** x * sigmoid(x) */
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** x * x */
export const square = (x: Tensor): Tensor => unary('square', x);
/** -1, 0 or 1. */
export const sign = (x: Tensor): Tensor => unary('sign', x);
/** 1 / x */
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
/** Round down. */
export const floor = (x: Tensor): Tensor => unary('floor', x);
/** Round up. */
export const ceil = (x: Tensor): Tensor => unary('ceil', x);
/** Round half to even. */
export const round = (x: Tensor): Tensor => unary('round', x);

/**
 * GELU: exact (erf) form by default, `{ approximate: 'tanh' }` for the GPT-2 tanh form (one op,
 * `gelu`, whose `approximate` attribute picks the backend kernel `gelu` or `geluTanh`).
 */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const approximate = options.approximate === 'tanh' ? 'tanh' : 'none';
  return unaryOp('gelu', approximate === 'tanh' ? 'geluTanh' : 'gelu', x, { approximate });
}

/** Limits values to [min, max] (either bound may be omitted). */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) throw new RangeError('clamp: give at least one of min and max');
  if (min !== undefined && max !== undefined && min > max)
    throw new RangeError(`clamp: min ${min} is greater than max ${max}`);
  if (x instanceof Tensor && (x.dtype === 'int32' || x.dtype === 'uint32')) {
    for (const bound of [min, max]) {
      if (bound !== undefined && Number.isFinite(bound) && !Number.isInteger(bound)) {
        throw new DTypeError(
          `clamp: bound ${bound} is not an integer but the tensor is ${x.dtype}; round the bound or cast the tensor`,
        );
      }
    }
  }
  return unaryOp('clamp', 'clamp', x, { min, max }, { min, max });
}

/** cond ? a : b elementwise (cond is bool; a and b share a dtype; numbers allowed). */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (!(cond instanceof Tensor)) throw new TypeError('where: cond must be a bool Tensor');
  if (cond.dtype !== 'bool')
    throw new DTypeError(`where: cond must be bool, got ${cond.dtype}; compare first (e.g. x.gt(0))`);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  const A =
    a instanceof Tensor ? a : like ? operand(a, like, 'where') : scalarTensor(cond.backend, a, 'float32');
  const B = b instanceof Tensor ? b : operand(b, A, 'where');
  try {
    sameDType('where', A, B);
    return dispatch('where', [cond, A, B], {}, () => {
      const { shape, views, owned } = broadcastAll('where', [cond, A, B]);
      try {
        const out = empty(A.backend, shape, A.dtype);
        if (out.size > 0) A.backend.where(views[0].view_(), views[1].view_(), views[2].view_(), out.view_());
        return out;
      } finally {
        for (const t of owned) t.dispose();
      }
    });
  } finally {
    if (A !== a) A.dispose();
    if (B !== b) B.dispose();
  }
}
