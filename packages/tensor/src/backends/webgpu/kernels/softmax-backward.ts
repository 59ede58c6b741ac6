/** Fused softmax / log-softmax backward over contiguous rows: one workgroup per row, two passes. */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/** out = y·(g − Σ g·y) (softmax) or g − exp(y)·Σ g (log-softmax, y = log-probabilities). */
export function softmaxBackwardLaunch(
  y: View,
  g: View,
  log: boolean,
  out: View,
  maxWorkgroups: number,
): Launch {
  const n = y.shape[y.shape.length - 1];
  const rows = n === 0 ? 0 : y.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const wg = rowWorkgroup(n);
  const words = [rows, n, y.offset, g.offset, out.offset, wg / 2];
  const dt = y.dtype;
  const term = log ? 'gv' : 'gv * yv';
  const result = log ? 'gv - exp(yv) * total' : 'yv * (gv - total)';
  return {
    kernel: {
      key: `${log ? 'log_softmax' : 'softmax'}_backward:${dt}:${wg}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'y', 'read', dt)}${dtypeBuffer(3, 'g', 'read', dt)}${mathPrelude(dt === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let yBase = p(2u) + row * n;
  let gBase = p(3u) + row * n;
  let outBase = p(4u) + row * n;
  var s = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) {
    let yv = ${load(dt, 'y', 'yBase + c')};
    let gv = ${load(dt, 'g', 'gBase + c')};
    s = s + ${term};
  }
  let total = wg_sum(lid, s, p(5u));
  for (var c = lid; c < n; c = c + ${wg}u) {
    let yv = ${load(dt, 'y', 'yBase + c')};
    let gv = ${load(dt, 'g', 'gBase + c')};
    ${store(out.dtype, 'out', 'outBase + c', result)}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}
