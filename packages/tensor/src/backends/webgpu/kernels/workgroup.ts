/**
 * Workgroup-wide f32 reductions for the fused row kernels (softmax, norms, cross-entropy):
 * every invocation passes its partial value and gets the row's total back. Must be called in
 * uniform control flow (they contain barriers).
 */

/**
 * Workgroup size of the fused row kernels (and of reduce.ts's tree reductions) for rows of `n`
 * elements. 64 unless rows are very long: on llvmpipe each barrier costs more with wider
 * workgroups (softmax over 1024-wide rows ran 3× faster with 64 invocations than with 256).
 */
export function rowWorkgroup(n: number): number {
  return n <= 4096 ? 64 : 256;
}

/**
 * WGSL for `wg_sum(lid, v, half)` and `wg_max(lid, v, half)` (NaN-propagating) over `wg`
 * invocations. `half` must be wg/2 read from a uniform: with a constant bound the compiler
 * unrolls the loop around its barriers, which costs llvmpipe seconds of compile time.
 */
export function workgroupReductions(wg: number): string {
  const tree = (name: string, combine: string) => `fn ${name}(lid: u32, v: f32, half: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = half; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = ${combine}; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // everyone has read red[0] before the next reduction reuses it
  return total;
}
`;
  return `var<workgroup> red: array<f32, ${wg}>;
${tree('wg_sum', 'red[lid] + red[lid + s]')}${tree('wg_max', 'max_nan(red[lid], red[lid + s])')}`;
}
