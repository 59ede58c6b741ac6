/** Fused softmax / log-softmax over contiguous rows: one workgroup per row, three passes. */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/** out = softmax(x) (or log-softmax) along the last dim of contiguous `x`. */
export function softmaxLaunch(x: View, out: View, log: boolean, maxWorkgroups: number): Launch {
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const wg = rowWorkgroup(n);
  const words = [rows, n, x.offset, out.offset, wg / 2];
  const result = log ? 'z - logSum' : 'exp(z) / total';
  return {
    kernel: {
      key: `${log ? 'log_softmax' : 'softmax'}:${x.dtype}:${wg}`,
      access: ['read_write', 'read'],
      build:
        () => `${enables([x.dtype])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'x', 'read', x.dtype)}${mathPrelude(x.dtype === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let base = p(2u) + row * n;
  let outBase = p(3u) + row * n;
  var m = -inf_f32();
  for (var c = lid; c < n; c = c + ${wg}u) { m = max_nan(m, ${load(x.dtype, 'x', 'base + c')}); }
  m = wg_max(lid, m, p(4u));
  // as the CPU: a row whose max is not finite is not shifted
  if (is_nan(m) || abs(m) == inf_f32()) { m = 0.0; }
  var s = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) { s = s + exp(${load(x.dtype, 'x', 'base + c')} - m); }
  let total = wg_sum(lid, s, p(4u));
  let logSum = log_acc(total);
  for (var c = lid; c < n; c = c + ${wg}u) {
    let z = ${load(x.dtype, 'x', 'base + c')} - m;
    ${store(out.dtype, 'out', 'outBase + c', result)}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}
