/**
 * The "splitk" matmul: one workgroup per output element, its lanes splitting the inner dimension
 * K (lane l sums k = l, l + 64, ...) and a tree reduction in workgroup memory adding the partial
 * sums. Suits products whose output is small but whose K is long, where the other variants
 * would leave most lanes idle or loop over K serially: matrix-vector products with N = 1
 * (`A @ v`, consecutive lanes read consecutive elements of a row of A) and tiny M×N with huge K
 * (e.g. weight gradients of a few features). The split stays inside one workgroup, so no second
 * pass or scratch buffer is needed.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { epilogueSource, type KernelEpilogue, matmulLaunches } from './matmul-epilogue.js';
import { MATMUL_WORDS, P } from './matmul-params.js';
import { enables, load, mathPrelude, uniforms } from './wgsl.js';

const WG = 64;

function source(dtype: DType, epilogue: KernelEpilogue | undefined): string {
  const half = dtype === 'float16';
  const elem = half ? 'f16' : 'f32';
  return `${enables([dtype])}${uniforms(MATMUL_WORDS)}@group(0) @binding(1) var<storage, read_write> out: array<${elem}>;
@group(0) @binding(2) var<storage, read> a: array<${elem}>;
@group(0) @binding(3) var<storage, read> b: array<${elem}>;
${mathPrelude(half)}${epilogueSource(dtype, epilogue)}var<workgroup> partial: array<f32, ${WG}>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = p(${P.M}u);
  let N = p(${P.N}u);
  let K = p(${P.K}u);
  let batch = wid.z + p(${P.BATCH0}u);
  let row = wid.y;
  let col = wid.x;
  let aStart = p(${P.A}u) + batch * p(${P.A + 1}u) + row * p(${P.A + 2}u);
  let aCol = p(${P.A + 3}u);
  let bStart = p(${P.B}u) + batch * p(${P.B + 1}u) + col * p(${P.B + 3}u);
  let bRow = p(${P.B + 2}u);
  var acc = 0.0;
  for (var k = lid; k < K; k = k + ${WG}u) {
    acc = fma(${load(dtype, 'a', 'aStart + k * aCol')}, ${load(dtype, 'b', 'bStart + k * bRow')}, acc);
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    finish(p(${P.OUT}u) + batch * M * N + row * N + col, col, partial[0]);
  }
}
`;
}

/** Can the grid hold one workgroup per output element? */
export function splitkApplies(m: number, n: number, maxWorkgroups: number): boolean {
  return m <= maxWorkgroups && n <= maxWorkgroups;
}

export function splitkLaunches(
  a: View,
  b: View,
  out: View,
  maxWorkgroups: number,
  epilogue?: KernelEpilogue,
): Launch[] {
  const m = a.shape[1];
  const n = b.shape[2];
  return matmulLaunches(
    `matmul:splitk:${a.dtype}`,
    () => source(a.dtype, epilogue),
    a,
    b,
    out,
    [n, m],
    maxWorkgroups,
    epilogue,
  );
}
