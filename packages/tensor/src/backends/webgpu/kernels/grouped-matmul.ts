/**
 * The grouped product of a mixture of experts: out[r] = x[r] @ w[e] for the rows r of group e,
 * rows sorted by group and the group ends (int32, an inclusive running count) on the device.
 *
 * MegaBlocks' idea, written for this backend: the output is tiled into TM×TN tiles that never
 * straddle two groups. Group e needs ⌈size_e / TM⌉ row tiles, so at most ⌈R / TM⌉ + E row tiles
 * exist whatever the routing; the grid launches that bound and each workgroup finds its group
 * and its rows by walking the E ends (E is small), then runs a register-blocked tile over K
 * reading w[e] in place (any strides: a transposed `nn.Linear` view costs nothing). Tiles past
 * the last group return at once. The walk reads a read-only buffer at a workgroup-uniform
 * index, so the early return keeps the barriers in uniform control flow.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, store, uniforms } from './wgsl.js';

/** Rows and columns of an output tile, and the depth staged through workgroup memory per step. */
export const GROUPED_TILE = { tm: 32, tn: 32, tk: 16 } as const;

/** WGSL: `groupRange(e, rows)`, the rows [start, end) of group e, ends clamped to [0, rows]. */
export const GROUP_RANGE = `
fn groupEnd(i: u32, rows: u32, base: u32) -> u32 { return u32(clamp(ends[base + i], 0, i32(rows))); }
fn groupRange(e: u32, rows: u32, base: u32) -> vec2<u32> {
  var start = 0u;
  if (e > 0u) { start = groupEnd(e - 1u, rows, base); }
  return vec2<u32>(start, max(start, groupEnd(e, rows, base)));
}`;

/**
 * The register-blocked tile shared with grouped-outer.ts: 8×8 invocations, each owning a 4×4
 * block (rows ty + 8i, columns tx + 8j) fed from k-major tiles As[k][m], Bs[k][n].
 */
export const TILE_ACCUMULATE = `
    for (var kk = 0u; kk < p(TK_WORD); kk = kk + 1u) {
      let ar = kk * 32u + ty;
      let a = vec4<f32>(As[ar], As[ar + 8u], As[ar + 16u], As[ar + 24u]);
      let br = kk * 32u + tx;
      let b = vec4<f32>(Bs[br], Bs[br + 8u], Bs[br + 16u], Bs[br + 24u]);
      acc0 = acc0 + a.x * b;
      acc1 = acc1 + a.y * b;
      acc2 = acc2 + a.z * b;
      acc3 = acc3 + a.w * b;
    }`;

function source(dtype: DType): string {
  const { tk } = GROUPED_TILE;
  // words: 0 R, 1 K, 2 M, 3 E, 4 x offset, 5 w offset, 6-8 w strides (E, K, M), 9 ends offset,
  // 10 out offset, 11 column tiles, 12 tile depth
  return `${enables([dtype])}${uniforms(13)}${dtypeBuffer(1, 'out', 'read_write', dtype)}${dtypeBuffer(2, 'x', 'read', dtype)}${dtypeBuffer(3, 'w', 'read', dtype)}${buffer(4, 'ends', 'read', 'i32')}${mathPrelude(dtype === 'float16')}${GROUP_RANGE}
var<workgroup> As: array<f32, ${tk * 32}>;
var<workgroup> Bs: array<f32, ${tk * 32}>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let R = p(0u);
  let K = p(1u);
  let M = p(2u);
  let tile = wid.x + wid.y * nwg.x;
  let n0 = (tile % p(11u)) * 32u;
  // find this row tile's group: walk the groups' tile counts
  var t = tile / p(11u);
  var e = p(3u);
  var rows = vec2<u32>(0u, 0u);
  for (var g = 0u; g < p(3u); g = g + 1u) {
    let range = groupRange(g, R, p(9u));
    let tiles = (range.y - range.x + 31u) / 32u;
    if (t < tiles) {
      e = g;
      rows = vec2<u32>(range.x + t * 32u, min(range.x + t * 32u + 32u, range.y));
      break;
    }
    t = t - tiles;
  }
  if (e >= p(3u)) { return; }
  let m0 = rows.x;
  let mEnd = rows.y;
  let wBase = p(5u) + e * p(6u);
  let wK = p(7u);
  let wM = p(8u);
  let tx = lid3.x;
  let ty = lid3.y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 = k0 + ${tk}u) {
    for (var q = 0u; q < ${(tk * 32) / 64}u; q = q + 1u) {
      let i = lid + q * 64u;
      // A: row-major reads along k; B: along n
      let mm = i / ${tk}u;
      let ka = i % ${tk}u;
      var av = 0.0;
      if (m0 + mm < mEnd && k0 + ka < K) { av = ${load(dtype, 'x', 'p(4u) + (m0 + mm) * K + k0 + ka')}; }
      As[ka * 32u + mm] = av;
      let kb = i / 32u;
      let nn = i % 32u;
      var bv = 0.0;
      if (k0 + kb < K && n0 + nn < M) { bv = ${load(dtype, 'w', 'wBase + (k0 + kb) * wK + (n0 + nn) * wM')}; }
      Bs[kb * 32u + nn] = bv;
    }
    workgroupBarrier();
${TILE_ACCUMULATE.replace('TK_WORD', '12u')}
    workgroupBarrier();
  }
  var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = m0 + ty + i * 8u;
    if (r >= mEnd) { continue; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = n0 + tx + j * 8u;
      if (c < M) { ${store(dtype, 'out', 'p(10u) + r * M + c', 'accs[i][j]')} }
    }
  }
}
`;
}

/** out [R, M] (zero-filled by the caller: rows in no group stay zero) = the grouped product. */
export function groupedMatmulLaunch(x: View, w: View, ends: View, out: View, maxWorkgroups: number): Launch {
  const [R, K] = x.shape;
  const [E, , M] = w.shape;
  const colTiles = Math.ceil(M / 32);
  const rowTiles = Math.ceil(R / 32) + E;
  const words = [
    R,
    K,
    M,
    E,
    x.offset,
    w.offset,
    ...w.strides,
    ends.offset,
    out.offset,
    colTiles,
    GROUPED_TILE.tk,
  ];
  return {
    kernel: {
      key: `grouped_matmul:${x.dtype}`,
      access: ['read_write', 'read', 'read', 'read'],
      build: () => source(x.dtype),
    },
    params: words,
    grid: grid2d(colTiles * rowTiles, maxWorkgroups),
    flops: 2 * R * K * M,
  };
}
