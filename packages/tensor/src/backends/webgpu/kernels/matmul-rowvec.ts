/**
 * The "subgroup row-vec" matmul: like the subgroup band (matmul-subgroup.ts) a workgroup is a
 * row of lanes along N sharing RM output rows, with no workgroup memory and no barriers, but
 * every lane owns RM rows × one vec4 of 4 adjacent columns (RM vec4 accumulators), and both
 * operands move as vec4s: per 4 k steps a lane does RM/8 vec4 loads of A, 4 vec4 loads of B and
 * RM vec4 broadcasts of A for 4·RM vec4 FMAs.
 *
 * Why: on lavapipe the cost of a product is its loads and broadcasts, not its FMAs (a per-lane
 * load is an 8-lane scalarised gather, ~20 cycles; a broadcast ~5). The scalar subgroup band
 * pays one broadcast per row and k step and one gathered scalar per column and k step; here one
 * vec4 broadcast carries 4 k steps of a row and one vec4 load of B carries 4 columns, so per FMA
 * there are about 4× fewer of both. (Broadcasting vec4s of A alone, with scalar B, did not pay:
 * it is the pair that does.) 16 rows per lane with 16-lane workgroups measured best, as in the
 * shared matmul probe's "rowband 16×4/inv wg16" that this variant follows.
 *
 * Transposed operands keep the vec4 loads by loading along their contiguous dimension:
 * - A rows contiguous (`A[m][k..k+3]`, the usual case): lane l of each 8 loads row l (and
 *   l + 8, …) as a vec4 along K, and row r's 4 k values come from lane r % 8 by broadcast.
 * - A transposed (`Aᵀ·B`, a weight gradient `Xᵀ·dY`: A's column stride is 1 along M): lanes load
 *   vec4s along M, one per (k, group of 4 rows), and a broadcast hands 4 rows of one k.
 * - B rows contiguous (`B[k][n..n+3]`): one vec4 per k step.
 * - B transposed (`A·Bᵀ`, `x @ Wᵀ`: B's row stride is 1 along K): a lane loads its 4 columns as
 *   4 vec4s along K and transposes them in registers: the same 4 loads per 4 k steps.
 *
 * Needs `subgroups` with at least 8 lanes, K % 4 = 0 and each operand 4-aligned along the
 * dimension it is loaded by (see {@link rowvecLayout}). Edges: load positions are clamped (whole
 * vec4s past the matrix repeat the last one) and stores are masked per element, so any M and N
 * work; the broadcasts stay in uniform control flow.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { epilogueSource, type KernelEpilogue, matmulLaunches } from './matmul-epilogue.js';
import { batchStrideAligned, innerVec4Aligned, MATMUL_PROLOGUE, MATMUL_WORDS, P } from './matmul-params.js';
import { enables, mathPrelude, uniforms } from './wgsl.js';

/** Lanes that hold A values for one broadcast round (lavapipe's subgroup: 8). */
const SG = 8;

export interface RowvecShape {
  /** Output rows per invocation: a multiple of 8. */
  rm: 8 | 16;
  /** Lanes per workgroup, all along N (each lane 4 adjacent columns). */
  wg: 16 | 64;
}

/**
 * How each operand is read: A along K (`k`: rows contiguous) or along M (`m`: transposed);
 * B along N (`n`: rows contiguous) or along K (`k`: transposed).
 */
export interface RowvecLayout {
  a: 'k' | 'm';
  b: 'n' | 'k';
}

/** Can the [B, R, C] operand be read as aligned vec4s along its middle (R) dimension? */
function middleVec4Aligned(v: View): boolean {
  const [, rowStride, colStride] = v.strides;
  return (
    rowStride === 1 &&
    v.shape[1] % 4 === 0 &&
    colStride % 4 === 0 &&
    batchStrideAligned(v) &&
    v.offset % 4 === 0
  );
}

/** How the row-vec kernel reads these operands, or undefined where it does not apply. */
export function rowvecLayout(a: View, b: View): RowvecLayout | undefined {
  if (a.shape[2] % 4 !== 0) return undefined;
  const aMode = innerVec4Aligned(a) ? 'k' : middleVec4Aligned(a) ? 'm' : undefined;
  const bMode = innerVec4Aligned(b) ? 'n' : middleVec4Aligned(b) ? 'k' : undefined;
  return aMode && bMode ? { a: aMode, b: bMode } : undefined;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function source(
  dtype: DType,
  shape: RowvecShape,
  layout: RowvecLayout,
  epilogue: KernelEpilogue | undefined,
): string {
  const { rm, wg } = shape;
  const half = dtype === 'float16';
  const elem = half ? 'f16' : 'f32';
  // f16 operands as 4 halves packed in two u32 words (unpack2x16float needs no f16 feature)
  const decl = half ? 'array<vec2<u32>>' : 'array<vec4<f32>>';
  const ld = (arr: string, idx: string) => (half ? `unpack4(${arr}[${idx}])` : `${arr}[${idx}]`);
  const rows = range(rm);
  const groups = range(rm / SG); // A loads per lane per 4 k steps
  const kk4 = range(4);

  // A: `a${g}` vec4 loads, then `x${kk}_${r}` (row r, k step kk) from broadcasts
  let aSetup: string;
  let aLoads: string;
  let aValue: (r: number, kk: number) => string;
  if (layout.a === 'k') {
    aSetup = groups
      .map((g) => `  let aQ${g} = (aBase + min(row0 + ${g * SG}u + lane, M - 1u) * aRow) / 4u;`)
      .join('\n');
    aLoads = [
      ...groups.map((g) => `    let a${g} = ${ld('a', `aQ${g} + kv`)};`),
      ...rows.map((r) => `    let ar${r} = subgroupBroadcast(a${r >> 3}, ${r % SG}u);`),
    ].join('\n');
    aValue = (r, kk) => `ar${r}[${kk}]`;
  } else {
    // rm rows × 4 k = rm vec4s along M per 4 k steps, rm/8 per lane: vec4 q = (kk, quad)
    const quads = rm / 4;
    aSetup = `  let aColQ = aCol / 4u;
${groups
  .map((g) => {
    const q = `(lane + ${g * SG}u)`;
    return `  let aQ${g} = (aBase + min(row0 + (${q} % ${quads}u) * 4u, M - 4u)) / 4u + (${q} / ${quads}u) * aColQ;`;
  })
  .join('\n')}`;
    aLoads = [
      ...groups.map((g) => `    let a${g} = ${ld('a', `aQ${g} + kv * 4u * aColQ`)};`),
      ...kk4.flatMap((kk) =>
        range(quads).map((quad) => {
          const q = kk * quads + quad;
          return `    let am${kk}_${quad} = subgroupBroadcast(a${Math.floor(q / SG)}, ${q % SG}u);`;
        }),
      ),
    ].join('\n');
    aValue = (r, kk) => `am${kk}_${r >> 2}[${r % 4}]`;
  }

  // B: `b${kk}` = the lane's 4 columns at k step kk
  let bSetup: string;
  let bLoads: string;
  if (layout.b === 'n') {
    bSetup = `  let bRowQ = bRow / 4u;
  let bQ = (bBase + min(col, N - 4u)) / 4u;`;
    bLoads = kk4.map((kk) => `    let b${kk} = ${ld('b', `bQ + (kv * 4u + ${kk}u) * bRowQ`)};`).join('\n');
  } else {
    bSetup = kk4.map((c) => `  let bQ${c} = (bBase + min(col + ${c}u, N - 1u) * bCol) / 4u;`).join('\n');
    bLoads = [
      ...kk4.map((c) => `    let bt${c} = ${ld('b', `bQ${c} + kv`)};`),
      ...kk4.map((kk) => `    let b${kk} = vec4<f32>(bt0[${kk}], bt1[${kk}], bt2[${kk}], bt3[${kk}]);`),
    ].join('\n');
  }

  const fmas = kk4
    .map((kk) =>
      rows.map((r) => `    acc${r} = fma(vec4<f32>(${aValue(r, kk)}), b${kk}, acc${r});`).join('\n'),
    )
    .join('\n');
  const stores = rows
    .map(
      (r) => `  if (row0 + ${r}u < M) {
${kk4.map((c) => `    if (col + ${c}u < N) { finish(outBase + (row0 + ${r}u) * N + col + ${c}u, col + ${c}u, acc${r}[${c}]); }`).join('\n')}
  }`,
    )
    .join('\n');

  return `${enables([dtype])}enable subgroups;
${uniforms(MATMUL_WORDS)}@group(0) @binding(1) var<storage, read_write> out: array<${elem}>;
@group(0) @binding(2) var<storage, read> a: ${decl};
@group(0) @binding(3) var<storage, read> b: ${decl};
${mathPrelude(half)}${epilogueSource(dtype, epilogue)}fn unpack4(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }

@compute @workgroup_size(${wg}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {
${MATMUL_PROLOGUE}
  // x walks the row blocks, so workgroups running close in time share one panel of B
  let row0 = wid.x * ${rm}u;
  let col = wid.y * ${wg * 4}u + lid * 4u;
  let lane = sl % ${SG}u;
${aSetup}
${bSetup}
${rows.map((r) => `  var acc${r} = vec4<f32>(0.0);`).join('\n')}
  let KV = K / 4u;
  for (var kv = 0u; kv < KV; kv = kv + 1u) {
${aLoads}
${bLoads}
${fmas}
  }
  let outBase = p(${P.OUT}u) + batch * M * N;
${stores}
}
`;
}

/** Launches of the row-vec kernel (the operands must have a {@link rowvecLayout}). */
export function rowvecLaunches(
  a: View,
  b: View,
  out: View,
  shape: RowvecShape,
  maxWorkgroups: number,
  epilogue?: KernelEpilogue,
): Launch[] {
  const layout = rowvecLayout(a, b);
  if (!layout)
    throw new Error(
      'matmul: the row-vec kernel needs K % 4 = 0 and 4-aligned operands; check rowvecLayout first',
    );
  const m = a.shape[1];
  const n = b.shape[2];
  return matmulLaunches(
    `matmul:sgrowv${shape.rm}w${shape.wg}:${layout.a}${layout.b}:${a.dtype}`,
    () => source(a.dtype, shape, layout, epilogue),
    a,
    b,
    out,
    [Math.ceil(m / shape.rm), Math.ceil(n / (shape.wg * 4))],
    maxWorkgroups,
    epilogue,
  );
}
