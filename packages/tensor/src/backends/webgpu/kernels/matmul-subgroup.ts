/**
 * The "subgroup band" matmul: the band layout of matmul-band.ts (a workgroup is a row of lanes
 * along N sharing RM output rows, no workgroup memory, no barriers), but A is shared across the
 * lanes of a subgroup with `subgroupBroadcast` instead of being loaded by every lane.
 *
 * Why: on lavapipe a storage load whose address differs per lane is a per-lane gather, and the
 * compiler does not prove that the band kernel's A address is the same for all lanes, so every
 * lane re-loads the same A element. Here, for each block of 8 k, lane l loads A[row][k0 + l % 8]
 * (one load per lane serves 8 k steps) and the k steps take it from lane kk by broadcast (a
 * register shuffle). Measured on lavapipe this cuts the CPU time of a 512³ product about 4×.
 * B is one scalar load per lane, column and k step (`bv`; `cn` lane-adjacent columns per lane),
 * or a vec4 of 4 adjacent columns when B rows are contiguous and aligned (f16: two u32 words of
 * packed halves).
 *
 * Cost model on lavapipe (raw-Dawn ablations at 512³): FMAs are nearly free; a per-lane load
 * (an 8-lane gather, scalarised) costs ~20–25 cycles and a broadcast ~5. Per 8 k steps a lane
 * does rm A loads, 8·cn B loads and 8·rm broadcasts for 8·rm·cn FMAs, so both rm and cn pay;
 * 12 × 2 measured best (10–14 × 2 within noise; 16 × 2, 8 × 4, 12 × 3 spill and lose).
 *
 * Needs the `subgroups` feature and a subgroup of at least 8 lanes (lavapipe: 8 or 16). The k
 * loop runs over whole blocks of 8 in uniform control flow (broadcast requires it); the last
 * K % 8 steps use plain loads.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { epilogueSource, type KernelEpilogue, matmulLaunches } from './matmul-epilogue.js';
import { MATMUL_PROLOGUE, MATMUL_WORDS, P } from './matmul-params.js';
import { enables, mathPrelude, uniforms } from './wgsl.js';

const WG = 64;
/** k steps per broadcast block: lanes 0..7 of each subgroup hold one A element each. */
const KB = 8;

export interface SubgroupBandShape {
  /** Output rows per invocation. */
  rm: number;
  /** B as vec4: 4 adjacent columns per lane (needs {@link innerVec4Aligned}). Else 1 column. */
  vec4: boolean;
  /**
   * Scalar-B columns per lane (default 1), lane-adjacent like the band kernel's: column
   * col + j·64. Each broadcast A value then feeds `cn` FMAs and each gathered B value `rm`, so
   * fewer of both per output (12 rows × 2 columns measured ~1.5× less CPU than 16 × 1 at 512³).
   */
  cn?: number;
}

function source(dtype: DType, shape: SubgroupBandShape, epilogue: KernelEpilogue | undefined): string {
  const { rm, vec4 } = shape;
  const cn = vec4 ? 1 : (shape.cn ?? 1);
  const half = dtype === 'float16';
  const elem = half ? 'f16' : 'f32';
  const rows = Array.from({ length: rm }, (_, i) => i);
  const cols = Array.from({ length: cn }, (_, j) => j);
  const ks = Array.from({ length: KB }, (_, t) => t);
  const cw = vec4 ? 4 : 1; // adjacent columns per B load
  const bDecl = vec4 ? (half ? 'array<vec2<u32>>' : 'array<vec4<f32>>') : `array<${elem}>`;
  const acc = vec4 ? 'vec4<f32>' : 'f32';
  const loadA = (idx: string) => (half ? `f32(a[${idx}])` : `a[${idx}]`);
  const loadB = (k: string, j: number) => {
    if (!vec4) return half ? `f32(b[bC${j} + (${k}) * bRow])` : `b[bC${j} + (${k}) * bRow]`;
    if (half) return `unpack4(b[bQ + (${k}) * bRowQ])`;
    return `b[bQ + (${k}) * bRowQ]`;
  };
  const bcast = vec4 ? (v: string) => `vec4<f32>(${v})` : (v: string) => v;
  // one k step: the B values of each column, then every row's A value times each of them
  const step = (k: string, aValue: (i: number) => string, indent: string) =>
    `${cols.map((j) => `${indent}let bv${j} = ${loadB(k, j)};`).join('\n')}
${rows.map((i) => `${indent}{ let av = ${aValue(i)};${cols.map((j) => ` acc${i}_${j} = fma(av, bv${j}, acc${i}_${j});`).join('')} }`).join('\n')}`;
  const colOf = (j: number, c = 0) => `col + ${j * WG + c}u`;
  return `${enables([dtype])}enable subgroups;
${uniforms(MATMUL_WORDS)}@group(0) @binding(1) var<storage, read_write> out: array<${elem}>;
@group(0) @binding(2) var<storage, read> a: array<${elem}>;
@group(0) @binding(3) var<storage, read> b: ${bDecl};
${mathPrelude(half)}${epilogueSource(dtype, epilogue)}fn unpack4(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {
${MATMUL_PROLOGUE}
  // x walks the row blocks, so workgroups running close in time share one panel of B (64·cn
  // columns × K) while it is in the CPU's cache; A's few rows per workgroup are cheap to refetch
  let row0 = wid.x * ${rm}u;
  let col = wid.y * ${WG * cn * cw}u + lid * ${cw}u;
  // clamped load positions; stores are masked below
${rows.map((i) => `  let aR${i} = aBase + min(row0 + ${i}u, M - 1u) * aRow;`).join('\n')}
${vec4 ? `  let bQ = (bBase + min(col, N - 4u)) / 4u;\n  let bRowQ = bRow / 4u;` : cols.map((j) => `  let bC${j} = bBase + min(${colOf(j)}, N - 1u) * bCol;`).join('\n')}
  let lane = sl % ${KB}u;
${rows.map((i) => cols.map((j) => `  var acc${i}_${j} = ${acc}(0.0);`).join(' ')).join('\n')}
  let KW = K - K % ${KB}u;
  for (var k0 = 0u; k0 < KW; k0 = k0 + ${KB}u) {
    let kl = (k0 + lane) * aCol;
${rows.map((i) => `    let a${i} = ${loadA(`aR${i} + kl`)};`).join('\n')}
${ks.map((t) => `    {\n${step(`k0 + ${t}u`, (i) => bcast(`subgroupBroadcast(a${i}, ${t}u)`), '      ')}\n    }`).join('\n')}
  }
  for (var k = KW; k < K; k = k + 1u) {
${step('k', (i) => bcast(loadA(`aR${i} + k * aCol`)), '    ')}
  }
  let outBase = p(${P.OUT}u) + batch * M * N;
${rows
  .map((i) => {
    const stores = vec4
      ? [0, 1, 2, 3].map(
          (c) =>
            `if (${colOf(0, c)} < N) { finish(outBase + (row0 + ${i}u) * N + ${colOf(0, c)}, ${colOf(0, c)}, acc${i}_0[${c}]); }`,
        )
      : cols.map(
          (j) =>
            `if (${colOf(j)} < N) { finish(outBase + (row0 + ${i}u) * N + ${colOf(j)}, ${colOf(j)}, acc${i}_${j}); }`,
        );
    return `  if (row0 + ${i}u < M) {\n${stores.map((st) => `    ${st}`).join('\n')}\n  }`;
  })
  .join('\n')}
}
`;
}

/** Launches of the subgroup band kernel over `batches` (split by the grid's z limit). */
export function subgroupBandLaunches(
  a: View,
  b: View,
  out: View,
  shape: SubgroupBandShape,
  maxWorkgroups: number,
  epilogue?: KernelEpilogue,
): Launch[] {
  const m = a.shape[1];
  const n = b.shape[2];
  const cols = WG * (shape.vec4 ? 4 : (shape.cn ?? 1));
  return matmulLaunches(
    `matmul:sgband${shape.vec4 ? 'v' : ''}${shape.rm}x${shape.vec4 ? 1 : (shape.cn ?? 1)}:${a.dtype}`,
    () => source(a.dtype, shape, epilogue),
    a,
    b,
    out,
    [Math.ceil(m / shape.rm), Math.ceil(n / cols)],
    maxWorkgroups,
    epilogue,
  );
}
