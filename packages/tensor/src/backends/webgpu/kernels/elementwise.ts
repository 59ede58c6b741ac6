/**
 * Elementwise kernels over strided views: fill, copy (with casts), unary, binary and where.
 *
 * Each op is described once, as a WGSL function `elem` from stored input values to the stored
 * output value ({@link ElementwiseSpec}). Two kernels run it: a vec4 kernel when every operand is
 * contiguous, a broadcast row, column or scalar (elementwise-contiguous.ts, several times
 * faster on lavapipe), and otherwise the generic kernel here, one invocation per output element
 * with operands found through a collapsed strided walk. The vec4 kernel also leaves a tail of
 * fewer than 4 elements to the strided one, so a launch is a list of one or two dispatches.
 */
import type { BinaryOp, UnaryOp, UnaryParams, View } from '../../../backend.js';
import { type DType, isFloat, numberToFloat16Bits } from '../../../dtype.js';
import { sizeOf } from '../../../shape.js';
import { storageType } from '../dtypes.js';
import type { Launch } from '../executor.js';
import { f32Bits, i32Bits } from '../params.js';
import type { Access } from '../pipelines.js';
import { contiguousPlan, tailWalk, vec4Launch } from './elementwise-contiguous.js';
import { collapseViews, packWalk, type StridedWalk, walkOffsets, walkVariant, walkWords } from './strided.js';
import {
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  mathPrelude,
  truthy,
  uniforms,
} from './wgsl.js';

/** One buffer of an elementwise kernel (operand 0 is the output). */
export interface Operand {
  name: string;
  dtype: DType;
  access: Access;
}

/** Everything that distinguishes one elementwise kernel from another, except the walk. */
export interface ElementwiseSpec {
  /** Key prefix: op and dtypes. */
  key: string;
  /** In binding order; operand 0 is the output, the walk visits them in the same order. */
  operands: Operand[];
  /** Op parameters at uniform words 1..extra (word 0 is the element count). */
  extra: number[];
  /**
   * WGSL `fn elem(r1: S1, .., rk: Sk) -> S0`: the stored value of one output element from the
   * stored values of the inputs 1..k (S = the operands' storage types). May read `p(1..extra)`.
   */
  elem: string;
  /** Extra WGSL functions `elem` calls. */
  helpers?: string;
}

/** `elem(in1[off1], .., ink[offk])`: the call of `elem` on the inputs' elements in the strided kernel. */
function elemCall(spec: ElementwiseSpec): string {
  const args = spec.operands.slice(1).map((o, i) => `${o.name}[off${i + 1}]`);
  return `elem(${args.join(', ')})`;
}

/** The generic kernel: one invocation per element of `walk`. */
function stridedLaunch(spec: ElementwiseSpec, walk: StridedWalk, n: number, maxWorkgroups: number): Launch {
  const variant = walkVariant(walk);
  const k = spec.operands.length;
  const base = 1 + spec.extra.length;
  const words = [n, ...spec.extra];
  packWalk(words, walk);
  const dtypes = spec.operands.map((o) => o.dtype);
  return {
    kernel: {
      key: `${spec.key}:r${variant}`,
      access: spec.operands.map((o) => o.access),
      build: () =>
        `${enables(dtypes)}${uniforms(base + walkWords(k))}${spec.operands
          .map((o, i) => dtypeBuffer(i + 1, o.name, o.access, o.dtype))
          .join('')}${mathPrelude(dtypes.includes('float16'))}${spec.helpers ?? ''}${spec.elem}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  ${walkOffsets(k, base, 'idx', variant)}
  ${spec.operands[0].name}[off0] = ${elemCall(spec)};
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/**
 * The dispatches computing `spec` over `views` (output first, inputs broadcast to its shape):
 * the vec4 kernel for what it can take plus the strided kernel for the rest.
 */
function elementwiseLaunches(spec: ElementwiseSpec, views: readonly View[], maxWorkgroups: number): Launch[] {
  const shape = views[0].shape;
  const walk = collapseViews(shape, views);
  const n = sizeOf(shape);
  const plan = contiguousPlan(walk);
  if (!plan) return [stridedLaunch(spec, walk, n, maxWorkgroups)];
  const launches = [vec4Launch(spec, plan, maxWorkgroups)];
  const tail = tailWalk(walk, plan);
  if (tail) launches.push(stridedLaunch(spec, tail, sizeOf(tail.shape), maxWorkgroups));
  return launches;
}

/** `fn elem(<params>) -> <out storage type> { <body> }` for an op whose output has `dtype`. */
function elemFn(params: string, out: DType, body: string): string {
  return `fn elem(${params}) -> ${storageType(out)} {
  ${body}
}
`;
}

/** A stored `dtype` value `raw` in its compute type (float16 widens to f32). */
function widen(dtype: DType, raw: string): string {
  return dtype === 'float16' ? `f32(${raw})` : raw;
}

/** Compute-type `value` as stored in a `dtype` buffer (float16 rounds, saturating). */
function narrow(dtype: DType, value: string): string {
  return dtype === 'float16' ? `to_f16(${value})` : value;
}

/**
 * The u32 word holding `value` as stored by a `dtype` buffer (JS conversions, as the CPU
 * backend's typed arrays). 0 means a fill can simply clear the buffer (-0.0 is not 0 here).
 */
export function fillBits(dtype: DType, value: number): number {
  switch (dtype) {
    case 'float32':
      return f32Bits(value);
    case 'float16':
      return numberToFloat16Bits(value);
    case 'int32':
      return i32Bits(value | 0);
    case 'uint32':
      return value >>> 0;
    case 'bool':
      return value ? 1 : 0;
  }
}

/** out[i] = value, for any strided `out`. */
export function fillLaunches(out: View, value: number, maxWorkgroups: number): Launch[] {
  const raw =
    out.dtype === 'float16' ? 'bitcast<vec2<f16>>(p(1u)).x' : `bitcast<${storageType(out.dtype)}>(p(1u))`;
  return elementwiseLaunches(
    {
      key: `fill:${out.dtype}`,
      operands: [{ name: 'out', dtype: out.dtype, access: 'read_write' }],
      extra: [fillBits(out.dtype, value)],
      elem: elemFn('', out.dtype, `return ${raw};`),
    },
    [out],
    maxWorkgroups,
  );
}

/** WGSL expression converting `raw` (a stored `from` value) to the stored form of `to`, as the CPU's `castFn`. */
export function castExpr(from: DType, to: DType, raw: string): string {
  if (from === to) return raw;
  if (to === 'bool') return `select(0u, 1u, ${truthy(from, widen(from, raw))})`;
  if (from === 'bool') {
    if (to === 'float16') return `f16(f32(${raw}))`;
    return `${storageType(to)}(${raw})`;
  }
  if (isFloat(from)) {
    const v = widen(from, raw);
    switch (to) {
      case 'float32':
        return v;
      case 'float16':
        return `to_f16(${v})`;
      case 'int32':
        return `f32_to_i32(${v})`;
      case 'uint32':
        return `f32_to_u32(${v})`;
    }
  }
  // from int32/uint32
  if (to === 'float32') return `f32(${raw})`;
  if (to === 'float16') return `to_f16(f32(${raw}))`;
  return `bitcast<${storageType(to)}>(${raw})`;
}

/** dst = cast(src) elementwise; both sides may be any strided views (different storages). */
export function copyLaunches(src: View, dst: View, maxWorkgroups: number): Launch[] {
  return elementwiseLaunches(
    {
      key: `copy:${src.dtype}>${dst.dtype}`,
      operands: [
        { name: 'dst', dtype: dst.dtype, access: 'read_write' },
        { name: 'src', dtype: src.dtype, access: 'read' },
      ],
      extra: [],
      elem: elemFn(
        `r1: ${storageType(src.dtype)}`,
        dst.dtype,
        `return ${castExpr(src.dtype, dst.dtype, 'r1')};`,
      ),
    },
    [dst, src],
    maxWorkgroups,
  );
}

/**
 * The WGSL expression of float unary `op` on compute-type (f32) value `v`. The matmul epilogue
 * applies its activations through this too, so a fused product matches an unfused one bit for bit.
 */
export function floatUnary(op: UnaryOp, v: string): string {
  switch (op) {
    case 'neg':
      return `-${v}`;
    case 'abs':
      return `abs(${v})`;
    case 'exp':
      return `exp(${v})`;
    case 'log':
      return `log_acc(${v})`;
    case 'sqrt':
      return `sqrt(${v})`;
    case 'rsqrt':
      return `1.0 / sqrt(${v})`;
    case 'sin':
      return `sin(${v})`;
    case 'cos':
      return `cos(${v})`;
    case 'tanh':
      return `tanh_acc(${v})`;
    case 'sigmoid':
      return `1.0 / (1.0 + exp(-${v}))`;
    case 'relu':
      // Math.max(x, 0): NaN propagates, -0 becomes +0
      return `select(select(0.0, ${v}, ${v} > 0.0), ${v}, is_nan(${v}))`;
    case 'gelu':
      return `gelu_erf(${v})`;
    case 'geluTanh':
      return `gelu_tanh(${v})`;
    case 'silu':
      return `${v} / (1.0 + exp(-${v}))`;
    case 'square':
      return `${v} * ${v}`;
    case 'sign':
      return `select(select(0.0, -1.0, f_lt(${v}, 0.0)), 1.0, f_gt(${v}, 0.0))`;
    case 'reciprocal':
      return `1.0 / ${v}`;
    case 'floor':
      return `floor(${v})`;
    case 'ceil':
      return `ceil(${v})`;
    case 'round':
      return `round(${v})`; // WGSL rounds half to even, like the CPU backend
    case 'clamp':
      // as the CPU: x < lo ? lo : Math.min(x, hi)
      return `select(min_nan(${v}, pf(2u)), pf(1u), f_lt(${v}, pf(1u)))`;
    case 'logicalNot':
      throw new Error('unreachable');
  }
}

function intUnary(op: UnaryOp, dtype: 'int32' | 'uint32' | 'bool', v: string): string {
  const signed = dtype === 'int32';
  switch (op) {
    case 'neg':
      return signed ? `-${v}` : `0u - ${v}`;
    case 'abs':
      return signed ? `abs(${v})` : v;
    case 'relu':
      return signed ? `max(${v}, 0)` : v;
    case 'square':
      return `${v} * ${v}`;
    case 'sign':
      return signed ? `sign(${v})` : `select(0u, 1u, ${v} > 0u)`;
    case 'clamp':
      return `clamp_int(${v})`;
    default:
      throw new Error(`webgpu: unary ${op} is not defined for ${dtype}`);
  }
}

/**
 * Integer clamp bounds as the CPU computes them: `x < lo ? lo : min(x, hi)` in float64,
 * stored with the typed array's wrap-around. For integer x, x < lo ⇔ x < ceil(lo) and
 * x > hi ⇔ x > floor(hi); a bound outside the type's range is "never" or "always".
 */
function intClampWords(dtype: 'int32' | 'uint32', params: UnaryParams | undefined): number[] {
  const [tmin, tmax] = dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  const wrap = (v: number) => (dtype === 'int32' ? i32Bits(v | 0) : v >>> 0);
  const lo = params?.min;
  const hi = params?.max;
  let lower = [0, 0, 0];
  if (lo !== undefined && !Number.isNaN(lo)) {
    const c = Math.ceil(lo);
    if (c > tmax) lower = [2, 0, wrap(lo)];
    else if (c > tmin) lower = [1, wrap(c), wrap(lo)];
  }
  let upper = [0, 0, 0];
  if (hi !== undefined && !Number.isNaN(hi)) {
    const f = Math.floor(hi);
    if (f < tmin) upper = [2, 0, wrap(hi)];
    else if (f < tmax) upper = [1, wrap(f), wrap(hi)];
  }
  return [...lower, ...upper];
}

/** Word 1/4: mode of the lower/upper bound (0 none, 1 compare, 2 always); 2/5 compare value; 3/6 stored value. */
function intClampFn(dtype: 'int32' | 'uint32'): string {
  const t = dtype === 'int32' ? 'i32' : 'u32';
  return `fn clamp_int(v: ${t}) -> ${t} {
  if (p(1u) == 2u || (p(1u) == 1u && v < bitcast<${t}>(p(2u)))) { return bitcast<${t}>(p(3u)); }
  if (p(4u) == 2u || (p(4u) == 1u && v > bitcast<${t}>(p(5u)))) { return bitcast<${t}>(p(6u)); }
  return v;
}
`;
}

/** out = op(x); out is contiguous with x's shape (bool for logicalNot). */
export function unaryLaunches(
  op: UnaryOp,
  x: View,
  out: View,
  params: UnaryParams | undefined,
  maxWorkgroups: number,
): Launch[] {
  let expr: string;
  let extra: number[] = [];
  let helper = '';
  if (op === 'logicalNot') {
    expr = `select(1u, 0u, ${truthy(x.dtype, 'v')})`;
  } else if (isFloat(x.dtype)) {
    expr = floatUnary(op, 'v');
    if (op === 'clamp') {
      extra = [
        f32Bits(params?.min ?? Number.NEGATIVE_INFINITY),
        f32Bits(params?.max ?? Number.POSITIVE_INFINITY),
      ];
    }
  } else {
    const dt = x.dtype as 'int32' | 'uint32';
    expr = intUnary(op, dt, 'v');
    if (op === 'clamp') {
      extra = intClampWords(dt, params);
      helper = intClampFn(dt);
    }
  }
  const result = op === 'logicalNot' ? expr : narrow(out.dtype, expr);
  const spec: ElementwiseSpec = {
    key: `unary:${op}:${x.dtype}>${out.dtype}`,
    operands: [
      { name: 'out', dtype: out.dtype, access: 'read_write' },
      { name: 'x', dtype: x.dtype, access: 'read' },
    ],
    extra,
    elem: elemFn(
      `r1: ${storageType(x.dtype)}`,
      out.dtype,
      `let v = ${widen(x.dtype, 'r1')};\n  return ${result};`,
    ),
    helpers: helper,
  };
  return elementwiseLaunches(spec, [out, x], maxWorkgroups);
}

function binaryExpr(op: BinaryOp, a: DType, b: DType, va: string, vb: string): string {
  const comparison = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' } as Partial<
    Record<BinaryOp, string>
  >;
  const cmp = comparison[op];
  if (cmp) return isFloat(a) ? `select(0u, 1u, f_${op}(${va}, ${vb}))` : `select(0u, 1u, ${va} ${cmp} ${vb})`;
  switch (op) {
    case 'logicalAnd':
      return `select(0u, 1u, ${truthy(a, va)} && ${truthy(b, vb)})`;
    case 'logicalOr':
      return `select(0u, 1u, ${truthy(a, va)} || ${truthy(b, vb)})`;
    case 'add':
      return `${va} + ${vb}`;
    case 'sub':
      return `${va} - ${vb}`;
    case 'mul':
      return `${va} * ${vb}`;
    case 'div':
      // WGSL integer division already matches the CPU: x / 0 == x, MIN / -1 == MIN, truncation
      return `${va} / ${vb}`;
    case 'pow':
      return isFloat(a)
        ? `pow_f32(${va}, ${vb})`
        : a === 'int32'
          ? `pow_i32(${va}, ${vb})`
          : `pow_u32(${va}, ${vb})`;
    case 'maximum':
      return isFloat(a) ? `max_nan(${va}, ${vb})` : `max(${va}, ${vb})`;
    case 'minimum':
      return isFloat(a) ? `min_nan(${va}, ${vb})` : `min(${va}, ${vb})`;
    default:
      throw new Error(`webgpu: unknown binary op ${op}`);
  }
}

/** out = op(a, b); a and b already broadcast to out's shape (logical ops may mix dtypes). */
export function binaryLaunches(op: BinaryOp, a: View, b: View, out: View, maxWorkgroups: number): Launch[] {
  const expr = binaryExpr(op, a.dtype, b.dtype, 'va', 'vb');
  const result = out.dtype === 'bool' ? expr : narrow(out.dtype, expr);
  return elementwiseLaunches(
    {
      key: `binary:${op}:${a.dtype},${b.dtype}>${out.dtype}`,
      operands: [
        { name: 'out', dtype: out.dtype, access: 'read_write' },
        { name: 'a', dtype: a.dtype, access: 'read' },
        { name: 'b', dtype: b.dtype, access: 'read' },
      ],
      extra: [],
      elem: elemFn(
        `r1: ${storageType(a.dtype)}, r2: ${storageType(b.dtype)}`,
        out.dtype,
        `let va = ${widen(a.dtype, 'r1')};\n  let vb = ${widen(b.dtype, 'r2')};\n  return ${result};`,
      ),
    },
    [out, a, b],
    maxWorkgroups,
  );
}

/** out = cond ? a : b, copying stored values unchanged. */
export function whereLaunches(cond: View, a: View, b: View, out: View, maxWorkgroups: number): Launch[] {
  return elementwiseLaunches(
    {
      key: `where:${out.dtype}`,
      operands: [
        { name: 'out', dtype: out.dtype, access: 'read_write' },
        { name: 'cond', dtype: cond.dtype, access: 'read' },
        { name: 'a', dtype: a.dtype, access: 'read' },
        { name: 'b', dtype: b.dtype, access: 'read' },
      ],
      extra: [],
      elem: elemFn(
        `r1: ${storageType(cond.dtype)}, r2: ${storageType(a.dtype)}, r3: ${storageType(b.dtype)}`,
        out.dtype,
        'return select(r3, r2, r1 != 0u);',
      ),
    },
    [out, cond, a, b],
    maxWorkgroups,
  );
}
