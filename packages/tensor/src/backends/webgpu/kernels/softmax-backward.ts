/** Fused softmax / log-softmax backward over contiguous rows: one workgroup per row, two passes. */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import {
  ROW_FUNCTION,
  type RowPlan,
  rowBuffer,
  rowEnables,
  rowLoad,
  rowLoop,
  rowPlan,
  rowPrelude,
  rowStore,
  rowType,
} from './rows.js';
import { rowCache, rowPass, rowRegisterForm, rowValue } from './rows-registers.js';
import { dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/**
 * out = y·(g − Σ g·y) (softmax) or g − exp(y)·Σ g (log-softmax, y = log-probabilities).
 * `lanes` > 0 selects the subgroup variant (rows.ts).
 */
export function softmaxBackwardLaunch(
  y: View,
  g: View,
  log: boolean,
  out: View,
  maxWorkgroups: number,
  lanes = 0,
): Launch {
  const n = y.shape[y.shape.length - 1];
  const rows = n === 0 ? 0 : y.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const words = [rows, n, y.offset, g.offset, out.offset];
  const plan = rowPlan(lanes, y.dtype, n, [y.offset, g.offset, out.offset]);
  if (plan) return softmaxBackwardSubgroupLaunch(y, log, out, rows, n, words, plan, maxWorkgroups);
  const wg = rowWorkgroup(n);
  words.push(wg / 2);
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

/** The subgroup variant: lane reductions by shuffles, vec4 accesses when rows are 4-aligned. */
function softmaxBackwardSubgroupLaunch(
  y: View,
  log: boolean,
  out: View,
  rows: number,
  n: number,
  words: number[],
  plan: RowPlan,
  maxWorkgroups: number,
): Launch {
  const { lanes: L, vec: V } = plan;
  const loop = rowLoop(words, L, rows, n, maxWorkgroups);
  // a row length fixed in the pipeline lets each lane load its part of the row once
  const { count: R, zero, key } = rowRegisterForm(words, plan, n);
  const dt = y.dtype;
  const f16 = dt === 'float16';
  const t = rowType(plan);
  const term = log ? 'gv' : 'gv * yv';
  const result = log ? 'gv - exp(yv) * total' : 'yv * (gv - total)';
  const loadY = (c: string) => rowLoad(plan, dt, 'y', `yBase + ${c}`);
  const loadG = (c: string) => rowLoad(plan, dt, 'g', `gBase + ${c}`);
  const loads = (j: number, c: string) =>
    `let yv = ${rowValue(R, 'y', j, c, loadY)}; let gv = ${rowValue(R, 'g', j, c, loadG)};`;
  return {
    kernel: {
      key: `${log ? 'log_softmax' : 'softmax'}_backward:${dt}:sg${L}v${V}${key}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${rowBuffer(plan, 1, 'out', 'read_write', out.dtype)}${rowBuffer(plan, 2, 'y', 'read', dt)}${rowBuffer(plan, 3, 'g', 'read', dt)}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let n = p(1u) / ${V}u;
  let yBase = (p(2u) + row * p(1u)) / ${V}u;
  let gBase = (p(3u) + row * p(1u)) / ${V}u;
  let outBase = (p(4u) + row * p(1u)) / ${V}u;
  ${rowCache(plan, R, 'y', loadY)}${rowCache(plan, R, 'g', loadG)}var s = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `{ ${loads(j, c)} s = s + ${term}; }`)}
  let total = row_sum(hsum(s));
  ${rowPass(plan, R, (c, j) => `{ ${loads(j, c)} ${rowStore(plan, out.dtype, 'out', `outBase + ${c}`, result)} }`)}
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}
