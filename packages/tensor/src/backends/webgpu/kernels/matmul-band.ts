/**
 * The "band" matmul: no workgroup memory and no barriers. A workgroup is one row of 64 lanes
 * along N that share RM output rows; each lane computes RM rows × CN columns (its columns are
 * lane-adjacent: base + lane + j·64), reading A and B straight from storage.
 *
 * Why it suits lavapipe: llvmpipe runs a workgroup's invocations as SIMD lanes of one CPU
 * thread, so a workgroup barrier ends the vector loop and workgroup memory is ordinary memory
 * behind extra loads and stores. The A element a k step needs is the same for every lane; each
 * lane loads one B element per column. (llvmpipe still gathers the A element per lane, since it
 * does not prove the address uniform: matmul-subgroup.ts shares it by broadcast instead, which
 * is faster where subgroups exist.)
 *
 * Edges need no branch in the inner loop: rows and columns past the matrix are clamped to the
 * last valid one for loading and simply not stored.
 *
 * Two flavours share the generator:
 * - `vec4`: rows of A are contiguous and 4-aligned (column stride 1; row/batch strides, offset
 *   and K multiples of 4): A is read as vec4 along K (f32) or as two u32 words holding four
 *   halves (f16, unpacked with `unpack2x16float`), and K steps by 4.
 * - scalar: any strides (transposed or stepped operands read in place).
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { epilogueSource, type KernelEpilogue, matmulLaunches } from './matmul-epilogue.js';
import { MATMUL_PROLOGUE, MATMUL_WORDS, P } from './matmul-params.js';
import { enables, mathPrelude, uniforms } from './wgsl.js';

/** Lanes per workgroup: all along N. */
const WG = 64;

export interface BandShape {
  /** Output rows per invocation. */
  rm: number;
  /** Output columns per invocation (lane-adjacent: column = base + lane + j·64). */
  cn: number;
  /** A read as uniform vec4 along K (see {@link innerVec4Aligned}); K steps by 4. */
  vec4: boolean;
}

function source(dtype: DType, shape: BandShape, epilogue: KernelEpilogue | undefined): string {
  const { rm, cn, vec4 } = shape;
  const half = dtype === 'float16';
  const rows = Array.from({ length: rm }, (_, i) => i);
  const cols = Array.from({ length: cn }, (_, j) => j);
  const elem = half ? 'f16' : 'f32';
  // A as vec4 along K: f32 vec4, or f16 packed two per u32 (unpack2x16float needs no f16 feature)
  const aDecl = vec4 ? (half ? 'array<vec2<u32>>' : 'array<vec4<f32>>') : `array<${elem}>`;
  const loadB = (j: number, kk: string) =>
    half ? `f32(b[bC${j} + ${kk} * bRow])` : `b[bC${j} + ${kk} * bRow]`;
  const loadA = (i: number) => (half ? `f32(a[aR${i} + k * aCol])` : `a[aR${i} + k * aCol]`);
  const loadA4 = (i: number) =>
    half
      ? `let w${i} = a[aQ${i} + k / 4u]; let av${i} = vec4<f32>(unpack2x16float(w${i}.x), unpack2x16float(w${i}.y));`
      : `let av${i} = a[aQ${i} + k / 4u];`;
  const scalarStep = `${cols.map((j) => `    let b${j} = ${loadB(j, 'k')};`).join('\n')}
${rows.map((i) => `    { let av = ${loadA(i)};\n${cols.map((j) => `      acc${i}_${j} = fma(av, b${j}, acc${i}_${j});`).join('\n')} }`).join('\n')}`;
  const vecLoop = `  for (var k = 0u; k < K; k = k + 4u) {
${cols.map((j) => `    let b${j} = vec4<f32>(${[0, 1, 2, 3].map((t) => loadB(j, `(k + ${t}u)`)).join(', ')});`).join('\n')}
${rows.map((i) => `    { ${loadA4(i)}\n${cols.map((j) => `      acc${i}_${j} = acc${i}_${j} + dot(av${i}, b${j});`).join('\n')} }`).join('\n')}
  }`;
  return `${enables([dtype])}${uniforms(MATMUL_WORDS)}@group(0) @binding(1) var<storage, read_write> out: array<${elem}>;
@group(0) @binding(2) var<storage, read> a: ${aDecl};
@group(0) @binding(3) var<storage, read> b: array<${elem}>;
${mathPrelude(half)}${epilogueSource(dtype, epilogue)}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${MATMUL_PROLOGUE}
  let row0 = wid.y * ${rm}u;
  let col0 = wid.x * ${WG * cn}u + lid;
  // clamped load positions (stores are masked below)
${rows.map((i) => `  let aR${i} = aBase + min(row0 + ${i}u, M - 1u) * aRow;`).join('\n')}
${vec4 ? rows.map((i) => `  let aQ${i} = aR${i} / 4u;`).join('\n') : ''}
${cols.map((j) => `  let bC${j} = bBase + min(col0 + ${j * WG}u, N - 1u) * bCol;`).join('\n')}
${rows.map((i) => cols.map((j) => `  var acc${i}_${j} = 0.0;`).join('\n')).join('\n')}
${
  vec4
    ? vecLoop
    : `  for (var k = 0u; k < K; k = k + 1u) {
${scalarStep}
  }`
}
  let outBase = p(${P.OUT}u) + batch * M * N;
${rows
  .map(
    (i) => `  if (row0 + ${i}u < M) {
${cols.map((j) => `    if (col0 + ${j * WG}u < N) { finish(outBase + (row0 + ${i}u) * N + col0 + ${j * WG}u, col0 + ${j * WG}u, acc${i}_${j}); }`).join('\n')}
  }`,
  )
  .join('\n')}
}
`;
}

/** Launches of the band kernel over `batches` (split by the grid's z limit). */
export function bandLaunches(
  a: View,
  b: View,
  out: View,
  shape: BandShape,
  maxWorkgroups: number,
  epilogue?: KernelEpilogue,
): Launch[] {
  const m = a.shape[1];
  const n = b.shape[2];
  const name = `band${shape.vec4 ? 'v' : ''}${shape.rm}x${shape.cn}`;
  return matmulLaunches(
    `matmul:${name}:${a.dtype}`,
    () => source(a.dtype, shape, epilogue),
    a,
    b,
    out,
    [Math.ceil(n / (shape.cn * WG)), Math.ceil(m / shape.rm)],
    maxWorkgroups,
    epilogue,
  );
}
