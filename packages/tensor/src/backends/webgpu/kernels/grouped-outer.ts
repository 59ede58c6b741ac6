/**
 * The weight gradient of the grouped product: out[e] = x[rows of e]ᵀ @ y[rows of e] ([E, K, M]),
 * rows sorted by group, group ends on the device. One workgroup per 32×32 tile of one group's
 * matrix walks that group's rows TK at a time (the reduction), so an empty group writes zeros
 * and no tile reads another group's rows. Same register-blocked tile as grouped-matmul.ts.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { GROUP_RANGE, GROUPED_TILE, TILE_ACCUMULATE } from './grouped-matmul.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, store, uniforms } from './wgsl.js';

function source(dtype: DType): string {
  const { tk } = GROUPED_TILE;
  // words: 0 R, 1 K, 2 M, 3 E, 4 x offset, 5 y offset, 6 ends offset, 7 out offset,
  // 8 K tiles, 9 M tiles, 10 tile depth
  return `${enables([dtype])}${uniforms(11)}${dtypeBuffer(1, 'out', 'read_write', dtype)}${dtypeBuffer(2, 'x', 'read', dtype)}${dtypeBuffer(3, 'y', 'read', dtype)}${buffer(4, 'ends', 'read', 'i32')}${mathPrelude(dtype === 'float16')}${GROUP_RANGE}
var<workgroup> As: array<f32, ${tk * 32}>;
var<workgroup> Bs: array<f32, ${tk * 32}>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let R = p(0u);
  let K = p(1u);
  let M = p(2u);
  let tile = wid.x + wid.y * nwg.x;
  let perGroup = p(8u) * p(9u);
  let e = tile / perGroup;
  if (e >= p(3u)) { return; }
  let k0 = ((tile % perGroup) / p(9u)) * 32u;
  let n0 = (tile % p(9u)) * 32u;
  let rows = groupRange(e, R, p(6u));
  let tx = lid3.x;
  let ty = lid3.y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var r0 = rows.x; r0 < rows.y; r0 = r0 + ${tk}u) {
    for (var q = 0u; q < ${(tk * 32) / 64}u; q = q + 1u) {
      let i = lid + q * 64u;
      let rr = i / 32u;
      let cc = i % 32u;
      let r = r0 + rr;
      var av = 0.0;
      if (r < rows.y && k0 + cc < K) { av = ${load(dtype, 'x', 'p(4u) + r * K + k0 + cc')}; }
      As[rr * 32u + cc] = av;
      var bv = 0.0;
      if (r < rows.y && n0 + cc < M) { bv = ${load(dtype, 'y', 'p(5u) + r * M + n0 + cc')}; }
      Bs[rr * 32u + cc] = bv;
    }
    workgroupBarrier();
${TILE_ACCUMULATE.replace('TK_WORD', '10u')}
    workgroupBarrier();
  }
  var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  let base = p(7u) + e * K * M;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let kr = k0 + ty + i * 8u;
    if (kr >= K) { continue; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = n0 + tx + j * 8u;
      if (c < M) { ${store(dtype, 'out', 'base + kr * M + c', 'accs[i][j]')} }
    }
  }
}
`;
}

/** out [E, K, M] (every element written) = per-group xᵀ·y. */
export function groupedOuterLaunch(x: View, y: View, ends: View, out: View, maxWorkgroups: number): Launch {
  const [R, K] = x.shape;
  const M = y.shape[1];
  const E = out.shape[0];
  const kTiles = Math.ceil(K / 32);
  const mTiles = Math.ceil(M / 32);
  const words = [R, K, M, E, x.offset, y.offset, ends.offset, out.offset, kTiles, mTiles, GROUPED_TILE.tk];
  return {
    kernel: {
      key: `grouped_outer:${x.dtype}`,
      access: ['read_write', 'read', 'read', 'read'],
      build: () => source(x.dtype),
    },
    params: words,
    grid: grid2d(E * kTiles * mTiles, maxWorkgroups),
    flops: 2 * R * K * M,
  };
}
