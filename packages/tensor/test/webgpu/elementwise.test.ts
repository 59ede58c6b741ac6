/**
 * Elementwise ops, webgpu vs cpu: every unary and binary op on every dtype it accepts, awkward
 * shapes, non-contiguous views (transposed, stepped slices, expanded), broadcasting, special
 * values (NaN, ±inf, ±0, halves) and integer wrap-around.
 *
 * Tolerances: |gpu - cpu| <= atol + rtol·|cpu|. The CPU computes in float64 and rounds once;
 * the GPU computes in float32. Correctly rounded ops (add, sub, mul, comparisons, casts) must
 * match exactly; division and sqrt within 1e-6 (a few ulp); transcendental functions within
 * rtol 1e-5 + atol 1e-6; float16 within 2e-3 relative + 1e-3 absolute (half an f16 ulp plus
 * double rounding). Integers and bools are exact.
 */

import type { Backend, BinaryOp, DType, Tensor, UnaryOp } from '@kiln/tensor';
import * as K from '@kiln/tensor';
import { afterAll, describe, it } from 'vitest';
import {
  compare,
  type HostSpec,
  make,
  randomSpec,
  shutdown,
  skipReason,
  suiteName,
  TOL,
  type Tolerance,
} from './helpers.js';

afterAll(shutdown);

const SHAPES = [[1], [3], [7, 33], [257], [1000], [2, 3, 5, 7]];

/** Inputs where each op is defined (log/sqrt need positives), with special values mixed in. */
function unaryInput(op: UnaryOp, shape: number[], dtype: DType): HostSpec {
  const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
  const wide = op === 'exp' || op === 'sigmoid' || op === 'silu' || op === 'tanh' || op.startsWith('gelu');
  const spec = randomSpec(
    shape,
    dtype,
    positive ? { low: 1e-3, high: 20 } : wide ? { low: -12, high: 12 } : {},
  );
  if (dtype === 'float32' && spec.data.length >= 20) {
    const d = spec.data as Float32Array;
    // special values: the CPU semantics must hold for them too
    const specials = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      -0,
      0.5,
      -2.5,
      1.5,
      1e-5,
      -1e-5,
    ];
    specials.forEach((v, i) => {
      d[i * 2 + 1] = v;
    });
  }
  return spec;
}

const FLOAT_TOL: Partial<Record<UnaryOp, Tolerance>> = {
  neg: {},
  abs: {},
  square: TOL.exactish,
  relu: {},
  sign: {},
  floor: {},
  ceil: {},
  round: {},
  sqrt: TOL.exactish,
  reciprocal: TOL.exactish,
};

/** Each unary op through its public function. */
const UNARY: Record<UnaryOp, (x: Tensor) => Tensor> = {
  neg: K.neg,
  abs: K.abs,
  exp: K.exp,
  log: K.log,
  sqrt: K.sqrt,
  rsqrt: K.rsqrt,
  sin: K.sin,
  cos: K.cos,
  tanh: K.tanh,
  sigmoid: K.sigmoid,
  relu: K.relu,
  gelu: (x) => K.gelu(x),
  geluTanh: (x) => K.gelu(x, { approximate: 'tanh' }),
  silu: K.silu,
  square: K.square,
  sign: K.sign,
  reciprocal: K.reciprocal,
  floor: K.floor,
  ceil: K.ceil,
  round: K.round,
  logicalNot: K.logicalNot,
  clamp: (x) => (x.dtype === 'int32' || x.dtype === 'uint32' ? K.clamp(x, -1, 2) : K.clamp(x, -0.5, 1.25)),
};

const applyUnary = (op: UnaryOp, x: Tensor): Tensor => UNARY[op](x);

const FLOAT_UNARY: UnaryOp[] = [
  'neg',
  'abs',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'relu',
  'gelu',
  'geluTanh',
  'silu',
  'square',
  'sign',
  'reciprocal',
  'floor',
  'ceil',
  'round',
  'logicalNot',
  'clamp',
];
const INT_UNARY: UnaryOp[] = ['neg', 'abs', 'relu', 'square', 'sign', 'clamp', 'logicalNot'];

describe.skipIf(!!skipReason)(suiteName('webgpu unary vs cpu'), () => {
  for (const op of FLOAT_UNARY) {
    it(`${op} float32 (contiguous, transposed, stepped slice, expanded)`, async () => {
      const tol = FLOAT_TOL[op] ?? TOL.elementwise;
      for (const shape of SHAPES) {
        const spec = unaryInput(op, shape, 'float32');
        await compare((be) => applyUnary(op, make(be, spec)), tol, `${op} ${shape}`);
      }
      const m = unaryInput(op, [7, 33], 'float32');
      await compare((be) => applyUnary(op, make(be, m).T), tol, `${op} transposed`);
      await compare((be) => applyUnary(op, make(be, m).slice(1, 2, 31, 3)), tol, `${op} stepped slice`);
      const row = unaryInput(op, [1, 33], 'float32');
      await compare((be) => applyUnary(op, make(be, row).expand([5, 33])), tol, `${op} expanded`);
    });

    it(`${op} float16`, async () => {
      const spec = unaryInput(op, [7, 33], 'float16');
      await compare((be) => applyUnary(op, make(be, spec).T), TOL.half, `${op} f16`);
    });
  }

  for (const dtype of ['int32', 'uint32'] as const) {
    for (const op of INT_UNARY) {
      it(`${op} ${dtype}`, async () => {
        const spec = randomSpec(
          [7, 33],
          dtype,
          dtype === 'int32' ? { low: -70000, high: 70000 } : { high: 70000 },
        );
        await compare((be) => applyUnary(op, make(be, spec)), {}, `${op} ${dtype}`);
      });
    }
  }

  it('integer clamp with one-sided and out-of-range bounds (fractional bounds are rejected)', async () => {
    const spec = randomSpec([257], 'int32', { low: -100, high: 100 });
    const u = randomSpec([257], 'uint32', { high: 100 });
    for (const [lo, hi] of [
      [-10, 20],
      [undefined, 7],
      [-3, undefined],
      [-1e12, 1e12],
      [50, 50],
    ] as const) {
      await compare((be) => K.clamp(make(be, spec), lo, hi), {}, `clamp int32 [${lo}, ${hi}]`);
      await compare((be) => K.clamp(make(be, u), lo, hi), {}, `clamp uint32 [${lo}, ${hi}]`);
    }
  });

  it('neg/abs wrap at the int32 minimum and uint32 negation wraps', async () => {
    const i = { data: [-2147483648, 2147483647, -1, 0, 5], shape: [5], dtype: 'int32' as const };
    const u = { data: [0, 1, 4294967295, 123], shape: [4], dtype: 'uint32' as const };
    await compare((be) => [K.neg(make(be, i)), K.abs(make(be, i)), K.neg(make(be, u)), K.sign(make(be, u))]);
  });

  it('logicalNot of bool', async () => {
    const spec = randomSpec([7, 33], 'bool');
    await compare((be) => K.logicalNot(make(be, spec).T));
  });
});

const BINARY_FLOAT: BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
];
const BINARY_TOL: Partial<Record<BinaryOp, Tolerance>> = {
  div: TOL.exactish,
  pow: { rtol: 2e-5, atol: 1e-6 },
};

function applyBinary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  const fn: Record<BinaryOp, (a: Tensor | number, b: Tensor | number) => Tensor> = {
    add: K.add,
    sub: K.sub,
    mul: K.mul,
    div: K.div,
    pow: K.pow,
    maximum: K.maximum,
    minimum: K.minimum,
    eq: K.eq,
    ne: K.ne,
    lt: K.lt,
    le: K.le,
    gt: K.gt,
    ge: K.ge,
    logicalAnd: K.logicalAnd,
    logicalOr: K.logicalOr,
  };
  return fn[op](a, b);
}

/** Binary inputs: comparisons get small integer-valued floats so ties happen. */
function binaryInputs(op: BinaryOp, shapeA: number[], shapeB: number[], dtype: DType): [HostSpec, HostSpec] {
  const compareOp = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'maximum', 'minimum'].includes(op);
  if (dtype === 'float32' || dtype === 'float16') {
    if (compareOp) {
      const a = randomSpec(shapeA, 'int32', { low: -3, high: 3, seed: 1 });
      const b = randomSpec(shapeB, 'int32', { low: -3, high: 3, seed: 2 });
      return [
        { ...a, dtype, data: Float32Array.from(a.data) },
        { ...b, dtype, data: Float32Array.from(b.data) },
      ];
    }
    if (op === 'pow') {
      const a = randomSpec(shapeA, dtype, { low: 0.1, high: 4, seed: 1 });
      const b = randomSpec(shapeB, dtype, { low: -3, high: 3, seed: 2 });
      return [a, b];
    }
    return [
      randomSpec(shapeA, dtype, { seed: 1 }),
      randomSpec(shapeB, dtype, { seed: 2, low: op === 'div' ? 0.5 : -2 }),
    ];
  }
  const range =
    op === 'pow'
      ? [
          // (results stay below 2^53, where the CPU's float64 pow is exact before wrapping)
          { low: dtype === 'int32' ? -6 : 0, high: 7 },
          { low: dtype === 'int32' ? -2 : 0, high: 12 },
        ]
      : op === 'mul' || op === 'add' || op === 'sub'
        ? [
            { low: dtype === 'int32' ? -(2 ** 30) : 0, high: 2 ** 31 },
            { low: dtype === 'int32' ? -(2 ** 30) : 0, high: 2 ** 31 },
          ]
        : [
            { low: dtype === 'int32' ? -20 : 0, high: 20 },
            { low: dtype === 'int32' ? -5 : 0, high: 5 },
          ];
  return [
    randomSpec(shapeA, dtype, { ...range[0], seed: 1 }),
    randomSpec(shapeB, dtype, { ...range[1], seed: 2 }),
  ];
}

describe.skipIf(!!skipReason)(suiteName('webgpu binary vs cpu'), () => {
  for (const op of BINARY_FLOAT) {
    it(`${op} float32: shapes, broadcasting, transposed and stepped operands`, async () => {
      const tol = BINARY_TOL[op] ?? {};
      for (const [sa, sb] of [
        [[1], [1]],
        [[257], [257]],
        [[1000], [1]],
        [[7, 33], [33]],
        [
          [7, 1],
          [1, 33],
        ],
        [
          [2, 3, 5, 7],
          [3, 1, 7],
        ],
      ]) {
        const [a, b] = binaryInputs(op, sa, sb, 'float32');
        await compare((be) => applyBinary(op, make(be, a), make(be, b)), tol, `${op} [${sa}] [${sb}]`);
      }
      const [a, b] = binaryInputs(op, [33, 7], [7, 99], 'float32');
      await compare(
        (be) => applyBinary(op, make(be, a).T, make(be, b).slice(1, 0, 99, 3)),
        tol,
        `${op} strided`,
      );
      await compare((be) => applyBinary(op, make(be, a), 1.5), tol, `${op} scalar`);
      await compare((be) => applyBinary(op, 0.75, make(be, a)), tol, `${op} scalar lhs`);
    });

    it(`${op} float16`, async () => {
      const [a, b] = binaryInputs(op, [7, 33], [33], 'float16');
      await compare((be) => applyBinary(op, make(be, a), make(be, b)), TOL.half, `${op} f16`);
    });

    for (const dtype of ['int32', 'uint32'] as const) {
      it(`${op} ${dtype} (wrapping, truncating division, x/0 = x)`, async () => {
        const [a, b] = binaryInputs(op, [7, 33], [7, 33], dtype);
        // (strided walks are dtype-independent code, covered by the float32 cases above)
        await compare((be) => applyBinary(op, make(be, a), make(be, b)), {}, `${op} ${dtype}`);
      });
    }
  }

  it('comparisons of bools and logical ops of mixed dtypes', async () => {
    const p = randomSpec([7, 33], 'bool', { seed: 5 });
    const q = randomSpec([33], 'bool', { seed: 6 });
    const f: HostSpec = {
      data: Float32Array.from([0, 1.5, Number.NaN, -0, 2, 0, 3]),
      shape: [7, 1],
      dtype: 'float32',
    };
    const i = randomSpec([7, 33], 'int32', { low: -1, high: 2 });
    await compare((be: Backend) => [
      K.eq(make(be, p), make(be, q)),
      K.lt(make(be, p), make(be, q)),
      K.logicalAnd(make(be, p), make(be, q)),
      K.logicalOr(make(be, f), make(be, i)),
      K.logicalAnd(make(be, f), make(be, i).T.T),
    ]);
  });

  it('float special values: NaN/inf propagation in maximum/minimum/pow/div and comparisons', async () => {
    const vals = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      -0,
      1,
      -1,
      2,
      -2,
      0.5,
      -3,
    ];
    const a: HostSpec = { data: Float32Array.from(vals), shape: [vals.length, 1], dtype: 'float32' };
    const b: HostSpec = { data: Float32Array.from(vals), shape: [1, vals.length], dtype: 'float32' };
    for (const op of BINARY_FLOAT) {
      await compare(
        (be) => applyBinary(op, make(be, a), make(be, b)),
        BINARY_TOL[op] ?? {},
        `${op} specials`,
      );
    }
  });

  it('where with broadcasting, strided operands and numbers, for every dtype', async () => {
    const cond = randomSpec([7, 33], 'bool');
    for (const dtype of ['float32', 'float16', 'int32', 'uint32', 'bool'] as const) {
      const a = randomSpec([33], dtype, { seed: 3 });
      const b = randomSpec([33, 7], dtype, { seed: 4 });
      await compare((be) => K.where(make(be, cond), make(be, a), make(be, b).T), {}, `where ${dtype}`);
    }
    const x = randomSpec([7, 33], 'float32');
    await compare((be) => K.where(make(be, cond), make(be, x), 0));
    await compare((be) => K.where(make(be, cond).slice(1, 0, 33, 2), 1, -2.5));
  });
});
