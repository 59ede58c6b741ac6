/**
 * Subgroup-band variants of the grouped product and its weight gradient, for software adapters
 * (lavapipe), where matmul-subgroup.ts explains the layout: a workgroup is 64 lanes along the
 * output columns sharing RM output rows, no workgroup memory, A shared across 8 lanes by
 * `subgroupBroadcast` (one A load serves 8 reduction steps), B one scalar load per lane, column
 * and step. On lavapipe this layout ran the MoE bench's grouped product about 2.5× faster than
 * the tiled kernel of grouped-matmul.ts, which real GPUs keep.
 *
 * - product (`groupedMatmulBandLaunch`): RM-row bands that never straddle two groups (at most
 *   ⌈R / RM⌉ + E of them), found by walking the ends as the tiled kernel does; reduction over K.
 * - weight gradient (`groupedOuterBandLaunch`): out[e] [K, M] in RM-row bands, reducing over
 *   group e's rows (A = xᵀ, read through its strides).
 *
 * Needs the `subgroups` feature with subgroups of at least 8 lanes. The walk and the reduction
 * bounds come from read-only buffers at workgroup-uniform indices, so the broadcasts stay in
 * uniform control flow.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { GROUP_RANGE } from './grouped-matmul.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, store, uniforms } from './wgsl.js';

const WG = 64;
/** Reduction steps per broadcast block. */
const KB = 8;
/** Output rows per band. */
const RM = 8;

/**
 * Columns per lane: 2 (128 columns per workgroup) unless the output has at most 64 columns, where
 * the second column would be masked work on every lane (measured 2× slower at 64 columns).
 */
function columnsPerLane(columns: number): number {
  return columns <= WG ? 1 : 2;
}

/**
 * The shared body. The caller's prologue defines `red0`, `red1` (the reduction range), `aR{i}`
 * (A row bases, clamped), `aCol` (A's reduction stride), `bBase`, `bRow` (B's reduction
 * stride), `bCol`, `N` (output columns), `col`, `outRow{i}` (output element base of row i, or
 * masked by `rowOk{i}`).
 */
function body(dtype: DType, cn: number): string {
  const rows = Array.from({ length: RM }, (_, i) => i);
  const cols = Array.from({ length: cn }, (_, j) => j);
  const ks = Array.from({ length: KB }, (_, t) => t);
  const step = (k: string, a: (i: number) => string, pad: string) =>
    `${cols.map((j) => `${pad}let bv${j} = ${load(dtype, 'b', `bC${j} + (${k}) * bRow`)};`).join('\n')}
${rows.map((i) => `${pad}{ let av = ${a(i)};${cols.map((j) => ` acc${i}_${j} = fma(av, bv${j}, acc${i}_${j});`).join('')} }`).join('\n')}`;
  return `${cols.map((j) => `  let bC${j} = bBase + min(col + ${j * WG}u, N - 1u) * bCol;`).join('\n')}
  let lane = sl % ${KB}u;
${rows.map((i) => cols.map((j) => `  var acc${i}_${j} = 0.0;`).join(' ')).join('\n')}
  let KW = red1 - (red1 - red0) % ${KB}u;
  for (var k0 = red0; k0 < KW; k0 = k0 + ${KB}u) {
    let kl = (k0 + lane) * aCol;
${rows.map((i) => `    let a${i} = ${load(dtype, 'a', `aR${i} + kl`)};`).join('\n')}
${ks.map((t) => `    {\n${step(`k0 + ${t}u`, (i) => `subgroupBroadcast(a${i}, ${t}u)`, '      ')}\n    }`).join('\n')}
  }
  for (var k = KW; k < red1; k = k + 1u) {
${step('k', (i) => load(dtype, 'a', `aR${i} + k * aCol`), '    ')}
  }
${rows
  .map(
    (i) =>
      `  if (rowOk${i}) {\n${cols.map((j) => `    if (col + ${j * WG}u < N) { ${store(dtype, 'out', `outRow${i} + col + ${j * WG}u`, `acc${i}_${j}`)} }`).join('\n')}\n  }`,
  )
  .join('\n')}
}
`;
}

function header(dtype: DType, words: number, b: string): string {
  return `${enables([dtype])}enable subgroups;
${uniforms(words)}${dtypeBuffer(1, 'out', 'read_write', dtype)}${dtypeBuffer(2, 'a', 'read', dtype)}${dtypeBuffer(3, b, 'read', dtype)}${buffer(4, 'ends', 'read', 'i32')}${mathPrelude(dtype === 'float16')}${GROUP_RANGE}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {
  let tile = wid.x + wid.y * nwg.x;`;
}

const ROWS = Array.from({ length: RM }, (_, i) => i);

function productSource(dtype: DType, cn: number): string {
  // words: 0 R, 1 K, 2 M, 3 E, 4 x offset, 5 w offset, 6-8 w strides (E, K, M), 9 ends offset,
  // 10 out offset, 11 row bands, 12 column tiles
  return `${header(dtype, 13, 'b')}
  let R = p(0u);
  let K = p(1u);
  let N = p(2u);
  let band = tile % p(11u);
  // a folded grid (over 65535 workgroups) has a few workgroups past the last tile
  if (tile / p(11u) >= p(12u)) { return; }
  let col = (tile / p(11u)) * ${WG * cn}u + lid;
  var t = band;
  var e = p(3u);
  var rows = vec2<u32>(0u, 0u);
  for (var g = 0u; g < p(3u); g = g + 1u) {
    let range = groupRange(g, R, p(9u));
    let bands = (range.y - range.x + ${RM - 1}u) / ${RM}u;
    if (t < bands) {
      e = g;
      rows = vec2<u32>(range.x + t * ${RM}u, min(range.x + t * ${RM}u + ${RM}u, range.y));
      break;
    }
    t = t - bands;
  }
  if (e >= p(3u)) { return; }
  let red0 = 0u;
  let red1 = K;
  let aCol = 1u;
  let bBase = p(5u) + e * p(6u);
  let bRow = p(7u);
  let bCol = p(8u);
${ROWS.map((i) => `  let aR${i} = p(4u) + min(rows.x + ${i}u, rows.y - 1u) * K;\n  let rowOk${i} = rows.x + ${i}u < rows.y;\n  let outRow${i} = p(10u) + (rows.x + ${i}u) * N;`).join('\n')}
${body(dtype, cn)}`;
}

function outerSource(dtype: DType, cn: number): string {
  // words: 0 R, 1 K, 2 M, 3 E, 4 x offset, 5 y offset, 6 ends offset, 7 out offset, 8 K bands,
  // 9 column tiles
  return `${header(dtype, 10, 'b')}
  let R = p(0u);
  let K = p(1u);
  let N = p(2u);
  let perGroup = p(8u) * p(9u);
  let e = tile / perGroup;
  if (e >= p(3u)) { return; }
  let row0 = (tile % p(8u)) * ${RM}u;
  let col = ((tile % perGroup) / p(8u)) * ${WG * cn}u + lid;
  let range = groupRange(e, R, p(6u));
  let red0 = range.x;
  let red1 = range.y;
  let aCol = K;
  let bBase = p(5u);
  let bRow = N;
  let bCol = 1u;
${ROWS.map((i) => `  let aR${i} = p(4u) + min(row0 + ${i}u, K - 1u);\n  let rowOk${i} = row0 + ${i}u < K;\n  let outRow${i} = p(7u) + e * K * N + (row0 + ${i}u) * N;`).join('\n')}
${body(dtype, cn)}`;
}

/** The grouped product, band layout: out [R, M] zero-filled by the caller. */
export function groupedMatmulBandLaunch(
  x: View,
  w: View,
  ends: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [R, K] = x.shape;
  const [E, , M] = w.shape;
  const bands = Math.ceil(R / RM) + E;
  const cn = columnsPerLane(M);
  const colTiles = Math.ceil(M / (WG * cn));
  const words = [R, K, M, E, x.offset, w.offset, ...w.strides, ends.offset, out.offset, bands, colTiles];
  return {
    kernel: {
      key: `grouped_matmul_band:${x.dtype}:c${cn}`,
      access: ['read_write', 'read', 'read', 'read'],
      build: () => productSource(x.dtype, cn),
    },
    params: words,
    grid: grid2d(bands * colTiles, maxWorkgroups),
    flops: 2 * R * K * M,
  };
}

/** The weight gradient, band layout: out [E, K, M], every element written. */
export function groupedOuterBandLaunch(
  x: View,
  y: View,
  ends: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [R, K] = x.shape;
  const M = y.shape[1];
  const E = out.shape[0];
  const kBands = Math.ceil(K / RM);
  const cn = columnsPerLane(M);
  const colTiles = Math.ceil(M / (WG * cn));
  const words = [R, K, M, E, x.offset, y.offset, ends.offset, out.offset, kBands, colTiles];
  return {
    kernel: {
      key: `grouped_outer_band:${x.dtype}:c${cn}`,
      access: ['read_write', 'read', 'read', 'read'],
      build: () => outerSource(x.dtype, cn),
    },
    params: words,
    grid: grid2d(E * kBands * colTiles, maxWorkgroups),
    flops: 2 * R * K * M,
  };
}
