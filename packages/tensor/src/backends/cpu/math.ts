import type { BinaryOp, UnaryOp, UnaryParams } from '../../backend.js';

/** erf(x) to ~1e-7 relative error (Numerical Recipes' erfc Chebyshev fit), computed in float64. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** Round half to even (as WGSL's `round` and PyTorch's `torch.round`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The scalar function of a unary op (float math in float64; integer ops stay integers). */
export function unaryFn(
  op: UnaryOp,
  params: UnaryParams | undefined,
  integer = false,
): (x: number) => number {
  switch (op) {
    case 'neg':
      return (x) => -x;
    case 'abs':
      return Math.abs;
    case 'exp':
      return Math.exp;
    case 'log':
      return Math.log;
    case 'sqrt':
      return Math.sqrt;
    case 'rsqrt':
      return (x) => 1 / Math.sqrt(x);
    case 'sin':
      return Math.sin;
    case 'cos':
      return Math.cos;
    case 'tanh':
      return Math.tanh;
    case 'sigmoid':
      return (x) => 1 / (1 + Math.exp(-x));
    case 'relu':
      return (x) => Math.max(x, 0);
    case 'gelu':
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'geluTanh':
      return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case 'silu':
      return (x) => x / (1 + Math.exp(-x));
    case 'square':
      return integer ? (x) => Math.imul(x, x) : (x) => x * x;
    case 'sign':
      return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'reciprocal':
      return (x) => 1 / x;
    case 'floor':
      return Math.floor;
    case 'ceil':
      return Math.ceil;
    case 'round':
      return roundHalfEven;
    case 'logicalNot':
      return (x) => (x !== 0 ? 0 : 1); // NaN is true
    case 'clamp': {
      const lo = params?.min ?? Number.NEGATIVE_INFINITY;
      const hi = params?.max ?? Number.POSITIVE_INFINITY;
      return (x) => (x < lo ? lo : Math.min(x, hi));
    }
  }
}

/** The scalar function of a binary op. `integer` selects wrapping integer semantics. */
export function binaryFn(op: BinaryOp, integer: boolean): (a: number, b: number) => number {
  switch (op) {
    case 'add':
      return (a, b) => a + b;
    case 'sub':
      return (a, b) => a - b;
    case 'mul':
      return integer ? Math.imul : (a, b) => a * b;
    case 'div':
      // integer division by zero yields the numerator, as WGSL defines it
      return integer ? (a, b) => (b === 0 ? a : Math.trunc(a / b)) : (a, b) => a / b;
    case 'pow':
      return integer ? intPow : Math.pow;
    case 'maximum':
      return Math.max; // propagates NaN
    case 'minimum':
      return Math.min; // propagates NaN
    case 'eq':
      return (a, b) => (a === b ? 1 : 0);
    case 'ne':
      return (a, b) => (a !== b ? 1 : 0);
    case 'lt':
      return (a, b) => (a < b ? 1 : 0);
    case 'le':
      return (a, b) => (a <= b ? 1 : 0);
    case 'gt':
      return (a, b) => (a > b ? 1 : 0);
    case 'ge':
      return (a, b) => (a >= b ? 1 : 0);
    case 'logicalAnd':
      return (a, b) => (a !== 0 && b !== 0 ? 1 : 0); // NaN is true
    case 'logicalOr':
      return (a, b) => (a !== 0 || b !== 0 ? 1 : 0);
  }
}

/** Integer power by squaring with 32-bit wrapping (negative exponents give 0, or ±1 for bases ±1). */
function intPow(base: number, exp: number): number {
  if (exp < 0) return base === 1 ? 1 : base === -1 ? (exp % 2 === 0 ? 1 : -1) : 0;
  let result = 1;
  let b = base | 0;
  let e = exp;
  while (e > 0) {
    if (e & 1) result = Math.imul(result, b);
    b = Math.imul(b, b);
    e = Math.floor(e / 2);
  }
  return result;
}
