/**
 * Building blocks of the row kernels' subgroup variants: one workgroup of exactly one subgroup
 * per row, reductions by subgroup shuffles (no workgroup memory, no barriers), and vec4 loads
 * and stores when every row starts on a 4-element boundary.
 *
 * Why: on lavapipe a workgroup's invocations are 8-wide SIMD lanes of one CPU thread, where a
 * barrier ends the vector loop and workgroup memory is ordinary memory behind extra loads; a
 * subgroup shuffle is a register permute. A per-lane storage load is a gather either way, so a
 * vec4 gather brings four elements for the price of one. Softmax over [4096, 1024] f32 ran
 * 0.45 GB/s with the 64-wide tree kernel, 1.0 with one 8-lane subgroup per row and 2.1–2.9
 * with vec4 on top (raw Dawn probe, same run).
 *
 * Correctness does not depend on the subgroup size: the workgroup has `lanes` = the adapter's
 * *smallest* subgroup size invocations, so it always fits in one subgroup, and the butterfly
 * reductions only exchange values between lanes below `lanes`.
 */
import type { DType } from '../../../dtype.js';
import { envVar } from '../env.js';
import { grid2d } from './wgsl.js';

/** How one row kernel runs: `lanes` invocations (one subgroup) per row, `vec` elements per access. */
export interface RowPlan {
  lanes: number;
  vec: 1 | 4;
}

/**
 * Lanes of a subgroup row kernel on this device, or 0 when the row kernels must keep their
 * workgroup-memory variants: no `subgroups` feature, an unknown or odd smallest subgroup size,
 * or `KILN_ROW_SUBGROUPS=0` (for A/B measurements).
 */
export function rowLanes(subgroups: boolean, subgroupMinSize: number): number {
  if (!subgroups || envVar('KILN_ROW_SUBGROUPS') === '0') return 0;
  const pow2 = (subgroupMinSize & (subgroupMinSize - 1)) === 0;
  return subgroupMinSize >= 4 && subgroupMinSize <= 128 && pow2 ? subgroupMinSize : 0;
}

/**
 * The plan for rows of `n` elements of `dtype` whose rows start at `offsets` (+ a multiple of
 * n), or null when the subgroup variant does not apply. vec4 needs a float dtype, n % 4 == 0
 * and 4-aligned offsets.
 */
export function rowPlan(lanes: number, dtype: DType, n: number, offsets: readonly number[]): RowPlan | null {
  if (lanes === 0 || (dtype !== 'float32' && dtype !== 'float16')) return null;
  const aligned = n % 4 === 0 && offsets.every((o) => o % 4 === 0);
  return { lanes, vec: aligned ? 4 : 1 };
}

/** WGSL type of a row value in the compute type: `f32` or `vec4<f32>`. */
export function rowType(plan: RowPlan): string {
  return plan.vec === 4 ? 'vec4<f32>' : 'f32';
}

/** Storage element type of a row buffer of `dtype` under `plan`. */
function rowStorage(plan: RowPlan, dtype: DType): string {
  const scalar = dtype === 'float16' ? 'f16' : 'f32';
  return plan.vec === 4 ? `vec4<${scalar}>` : scalar;
}

/** Declares row buffer `binding` as an array of {@link rowStorage}. */
export function rowBuffer(
  plan: RowPlan,
  binding: number,
  name: string,
  access: string,
  dtype: DType,
): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${rowStorage(plan, dtype)}>;\n`;
}

/** Expression reading row element (or vec4) `index` of `name` in the compute type. */
export function rowLoad(plan: RowPlan, dtype: DType, name: string, index: string): string {
  if (dtype !== 'float16') return `${name}[${index}]`;
  return `${rowType(plan)}(${name}[${index}])`;
}

/** Statement writing compute-type `value` to row element (or vec4) `index` of `name`. */
export function rowStore(plan: RowPlan, dtype: DType, name: string, index: string, value: string): string {
  if (dtype !== 'float16') return `${name}[${index}] = ${value};`;
  return `${name}[${index}] = ${plan.vec === 4 ? 'to_f16_4' : 'to_f16'}(${value});`;
}

/**
 * `enable subgroups;` plus WGSL helpers over `lanes` lanes (needs {@link mathPrelude} first):
 * `row_sum(v)` / `row_max(v)` (NaN-propagating, as `max_nan`) return the same bits on every
 * lane; `hsum(v)` / `hmax(v)` fold a row value's components in order; `max4(a, b)` is
 * `max_nan` per component; `to_f16_4` converts a vec4 with `to_f16`'s saturation.
 */
export function rowPrelude(plan: RowPlan, f16: boolean): string {
  const t = rowType(plan);
  const vec = plan.vec === 4;
  // butterfly: lane l combines with lane l ^ k; both orders give the same bits (+ and max_nan commute)
  const butterfly = (name: string, combine: string) => `fn ${name}(x: f32) -> f32 {
  var v = x;
  for (var k = ${plan.lanes / 2}u; k > 0u; k = k >> 1u) { v = ${combine}; }
  return v;
}
`;
  const shuffle = 'subgroupShuffleXor(v, k)';
  return `${butterfly('row_sum', `v + ${shuffle}`)}${butterfly('row_max', `max_nan(v, ${shuffle})`)}fn hsum(v: ${t}) -> f32 { return ${vec ? '(v.x + v.y) + (v.z + v.w)' : 'v'}; }
fn hmax(v: ${t}) -> f32 { return ${vec ? 'max_nan(max_nan(v.x, v.y), max_nan(v.z, v.w))' : 'v'}; }
fn max4(a: ${t}, b: ${t}) -> ${t} { return ${vec ? `${t}(max_nan(a.x, b.x), max_nan(a.y, b.y), max_nan(a.z, b.z), max_nan(a.w, b.w))` : 'max_nan(a, b)'}; }
${f16 && vec ? 'fn to_f16_4(v: vec4<f32>) -> vec4<f16> { return vec4<f16>(to_f16(v.x), to_f16(v.y), to_f16(v.z), to_f16(v.w)); }\n' : ''}`;
}

/** `enable` lines of a subgroup row kernel. */
export function rowEnables(f16: boolean): string {
  return `${f16 ? 'enable f16;\n' : ''}enable subgroups;\n`;
}

/**
 * Column indices (as `vec4<i32>` or `i32`) of row value `c`: for the one-hot and index tests of
 * cross-entropy.
 */
export function rowColumns(plan: RowPlan, c: string): string {
  return plan.vec === 4 ? `(vec4<i32>(i32(${c}) * 4) + vec4<i32>(0, 1, 2, 3))` : `i32(${c})`;
}

/**
 * Rows one workgroup takes in turn: short rows share a workgroup (up to 32 rows, ~1024
 * elements), because a workgroup costs lavapipe a fixed start-up beyond its work.
 */
export function rowsPerWorkgroup(n: number): number {
  return Math.max(1, Math.min(32, Math.floor(1024 / Math.max(1, n))));
}

/**
 * Opens `process_row(row, lid)`, the per-row body of a subgroup row kernel (ended by the
 * kernel's closing brace; `return` ends the row), and returns out-of-range rows at once.
 */
export const ROW_FUNCTION = 'fn process_row(row: u32, lid: u32) {\n  if (row >= p(0u)) { return; }';

/**
 * The entry point of a subgroup row kernel: workgroup w runs rows w·k … w·k + k − 1 through
 * `process_row`, with k = uniform word `kWord` (a uniform bound, so the body is not unrolled).
 */
export function rowLoopMain(lanes: number, kWord: number): string {
  return `@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * p(${kWord}u);
  for (var k = 0u; k < p(${kWord}u); k = k + 1u) { process_row(first + k, lid); }
}
`;
}

/**
 * The row loop of a subgroup row kernel over `rows` rows of `n` elements: pushes k (rows per
 * workgroup) onto the uniform `words` and returns the entry point ({@link rowLoopMain}, closing
 * the {@link ROW_FUNCTION} body) and the grid of ⌈rows / k⌉ workgroups.
 */
export function rowLoop(
  words: number[],
  lanes: number,
  rows: number,
  n: number,
  maxWorkgroups: number,
): { main: string; grid: [number, number, number] } {
  const k = rowsPerWorkgroup(n);
  const main = rowLoopMain(lanes, words.length);
  words.push(k);
  return { main, grid: grid2d(Math.ceil(rows / k), maxWorkgroups) };
}
