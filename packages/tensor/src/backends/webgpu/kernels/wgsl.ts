/**
 * Building blocks shared by the WGSL generators: the uniform block, buffer declarations, the
 * flat invocation index over a 2-D grid, and scalar math that WGSL lacks or leaves loosely
 * specified (NaN tests, erf, an accurate log and tanh, JavaScript's pow, saturating casts).
 */
import type { DType } from '../../../dtype.js';
import { type StorageType, storageType } from '../dtypes.js';
import type { Access } from '../pipelines.js';

/** Invocations per workgroup of the elementwise kernels. */
export const ELEMENTWISE_WORKGROUP = 256;

/** `enable f16;` when any operand is float16 (WGSL requires it before any f16 use). */
export function enables(dtypes: readonly DType[]): string {
  return dtypes.includes('float16') ? 'enable f16;\n' : '';
}

/**
 * The uniform parameter block: `words` u32 words packed into vec4s (uniform arrays need a
 * 16-byte stride). `p(i)` reads word `i`; with a constant `i` the compiler folds the indexing.
 */
export function uniforms(words: number): string {
  const vecs = Math.max(1, Math.ceil(words / 4));
  return `struct Params { w: array<vec4<u32>, ${vecs}> }
@group(0) @binding(0) var<uniform> params: Params;
fn p(i: u32) -> u32 { return params.w[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(p(i)); }
fn pi(i: u32) -> i32 { return bitcast<i32>(p(i)); }
`;
}

/** Declares storage buffer `binding` (1-based; 0 is the uniform block) as an array of `type`. */
export function buffer(binding: number, name: string, access: Access, type: StorageType | string): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;\n`;
}

/** Declares a buffer holding `dtype` elements. */
export function dtypeBuffer(binding: number, name: string, access: Access, dtype: DType): string {
  return buffer(binding, name, access, storageType(dtype));
}

/** Expression reading element `index` of `name` (a `dtype` buffer) in its compute type. */
export function load(dtype: DType, name: string, index: string): string {
  return dtype === 'float16' ? `f32(${name}[${index}])` : `${name}[${index}]`;
}

/** Statement writing compute-type `value` to element `index` of `name` (a `dtype` buffer). */
export function store(dtype: DType, name: string, index: string, value: string): string {
  return dtype === 'float16' ? `${name}[${index}] = to_f16(${value});` : `${name}[${index}] = ${value};`;
}

/**
 * Builtins of a 1-D kernel over a 2-D grid, and `idx`, the flat invocation index. A dispatch has
 * at most 65535 workgroups per dimension, so large element counts spill into `y`.
 */
export function flatMain(workgroup: number): string {
  return `@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${workgroup}u;`;
}

/** Builtins of a kernel that runs one workgroup per row over a 2-D grid; `row` is the row index. */
export function rowMain(workgroup: number): string {
  return `@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;`;
}

/** A 2-D grid of at least `workgroups` workgroups with at most `max` per dimension. */
export function grid2d(workgroups: number, max: number): [number, number, number] {
  if (workgroups <= max) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y, 1];
}

/** Scalar f32 helpers. `f16` adds `to_f16`, which saturates to ±inf and keeps NaN. */
export function mathPrelude(f16: boolean): string {
  const half = f16
    ? `
var<private> kHalfNaN: u32 = 0x7e00u;
var<private> kHalfInf: u32 = 0x7c00u;
var<private> kHalfNegInf: u32 = 0xfc00u;
fn to_f16(v: f32) -> f16 {
  if (is_nan(v)) { return bitcast<vec2<f16>>(kHalfNaN).x; }
  if (v >= 65520.0) { return bitcast<vec2<f16>>(kHalfInf).x; }
  if (v <= -65520.0) { return bitcast<vec2<f16>>(kHalfNegInf).x; }
  return f16(v);
}
`
    : '';
  return `// NaN and infinity come from private variables: a constant expression may not be NaN or infinite.
var<private> kNaN: u32 = 0x7fc00000u;
var<private> kInf: u32 = 0x7f800000u;
fn nan_f32() -> f32 { return bitcast<f32>(kNaN); }
fn inf_f32() -> f32 { return bitcast<f32>(kInf); }
// Bit test, so no compiler may assume NaN away.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn truthy_f32(x: f32) -> bool { return x != 0.0 || is_nan(x); } // NaN is true, as in PyTorch
// IEEE comparisons with NaN spelled out: the driver's compiler may assume NaN away.
fn any_nan(a: f32, b: f32) -> bool { return is_nan(a) || is_nan(b); }
fn f_eq(a: f32, b: f32) -> bool { return !any_nan(a, b) && a == b; }
fn f_ne(a: f32, b: f32) -> bool { return any_nan(a, b) || a != b; }
fn f_lt(a: f32, b: f32) -> bool { return !any_nan(a, b) && a < b; }
fn f_le(a: f32, b: f32) -> bool { return !any_nan(a, b) && a <= b; }
fn f_gt(a: f32, b: f32) -> bool { return !any_nan(a, b) && a > b; }
fn f_ge(a: f32, b: f32) -> bool { return !any_nan(a, b) && a >= b; }
// Math.max / Math.min: NaN propagates; max(+0, -0) is +0 and min(+0, -0) is -0 (bitwise and/or of equal values).
fn max_nan(a: f32, b: f32) -> f32 {
  if (any_nan(a, b)) { return nan_f32(); }
  if (a == b) { return bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)); }
  return select(b, a, a > b);
}
fn min_nan(a: f32, b: f32) -> f32 {
  if (any_nan(a, b)) { return nan_f32(); }
  if (a == b) { return bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)); }
  return select(b, a, a < b);
}
// float -> integer: truncate toward zero, saturate, NaN -> 0 (as the CPU backend).
fn f32_to_i32(v: f32) -> i32 {
  if (is_nan(v)) { return 0; }
  if (v >= 2147483648.0) { return 2147483647; }
  if (v <= -2147483648.0) { return -2147483648; }
  return i32(v);
}
fn f32_to_u32(v: f32) -> u32 {
  if (is_nan(v) || v <= 0.0) { return 0u; }
  if (v >= 4294967296.0) { return 4294967295u; }
  return u32(v);
}
// Natural log with ~2 ulp relative error everywhere (builtin log may have 2^-21 absolute error near 1).
fn log_acc(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return nan_f32(); }
  if (x == 0.0) { return -inf_f32(); }
  if (x == inf_f32()) { return x; }
  let parts = frexp(x);
  var m = parts.fract;
  var e = f32(parts.exp);
  if (m < 0.70710678) { m = m * 2.0; e = e - 1.0; }
  // log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let series = 2.0 * s * (1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285714 + s2 * (0.11111111 + s2 * 0.09090909)))));
  return e * 0.693145751953125 + (series + e * 1.4286068e-6);
}
// tanh without overflow for large |x| and without cancellation for small |x|.
fn tanh_acc(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.4) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254 + x2 * (0.021869488 + x2 * -0.0088632355)))));
  }
  let e = exp(-2.0 * a);
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}
// erfc(z) for z >= 0 with ~1e-7 relative error (Chebyshev fit, as the CPU backend's erf).
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}
// gelu = x * Phi(x), using erfc on the negative side so the tail keeps its relative accuracy.
fn gelu_erf(x: f32) -> f32 {
  let r = erfc_pos(abs(x) * 0.70710678118654752);
  return select(0.5 * x * r, 0.5 * x * (2.0 - r), x >= 0.0);
}
// 0.5 x (1 + tanh(y)) == x / (1 + exp(-2y)): no cancellation for negative x.
fn gelu_tanh(x: f32) -> f32 {
  let y = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * y));
}
// JavaScript's Math.pow for f32 (negative bases with integer exponents, pow(x, 0) == 1, ...).
fn pow_f32(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  let negative = (bitcast<u32>(a) & 0x80000000u) != 0u;
  let integral = floor(b) == b;
  if (negative && a != 0.0 && a != -inf_f32() && !integral) { return nan_f32(); }
  let odd = integral && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
  let r = exp(b * log_acc(abs(a)));
  return select(r, -r, negative && odd);
}
// Integer powers wrap like the CPU backend's (exact modulo 2^32); negative exponents truncate.
fn pow_i32(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(1, -1, (b & 1) != 0); }
    return 0;
  }
  var result = 1;
  var base = a;
  var e = u32(b);
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { result = result * base; }
    base = base * base;
    e = e >> 1u;
  }
  return result;
}
fn pow_u32(a: u32, b: u32) -> u32 {
  var result = 1u;
  var base = a;
  var e = b;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { result = result * base; }
    base = base * base;
    e = e >> 1u;
  }
  return result;
}
${half}`;
}

/** WGSL expression: is compute-type value `v` of `dtype` non-zero (NaN counts as false, as on the CPU)? */
export function truthy(dtype: DType, v: string): string {
  return dtype === 'float32' || dtype === 'float16' ? `truthy_f32(${v})` : `(${v} != 0)`;
}
