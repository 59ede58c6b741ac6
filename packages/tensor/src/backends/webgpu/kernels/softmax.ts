/**
 * Fused softmax / log-softmax over contiguous rows: one workgroup per row, three passes (max,
 * exp-sum, write), as the CPU. With subgroups, a workgroup is one subgroup (see rows.ts).
 */
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
 * out = softmax(x) (or log-softmax) along the last dim of contiguous `x`. `lanes` > 0 selects
 * the subgroup variant (rows.ts `rowLanes`).
 */
export function softmaxLaunch(x: View, out: View, log: boolean, maxWorkgroups: number, lanes = 0): Launch {
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const words = [rows, n, x.offset, out.offset];
  const plan = rowPlan(lanes, x.dtype, n, [x.offset, out.offset]);
  if (plan) return softmaxSubgroupLaunch(x, out, log, rows, n, words, plan, maxWorkgroups);
  const wg = rowWorkgroup(n);
  words.push(wg / 2);
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

/** The subgroup variant: lane reductions by shuffles, vec4 accesses when rows are 4-aligned. */
function softmaxSubgroupLaunch(
  x: View,
  out: View,
  log: boolean,
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
  const f16 = x.dtype === 'float16';
  const t = rowType(plan);
  const result = log ? 'z - logSum' : 'exp(z) / total';
  const load = (c: string) => rowLoad(plan, x.dtype, 'x', `base + ${c}`);
  const xv = (j: number, c: string) => rowValue(R, 'x', j, c, load);
  return {
    kernel: {
      key: `${log ? 'log_softmax' : 'softmax'}:${x.dtype}:sg${L}v${V}${key}`,
      access: ['read_write', 'read'],
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${rowBuffer(plan, 1, 'out', 'read_write', out.dtype)}${rowBuffer(plan, 2, 'x', 'read', x.dtype)}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let n = p(1u) / ${V}u;
  let base = (p(2u) + row * p(1u)) / ${V}u;
  let outBase = (p(3u) + row * p(1u)) / ${V}u;
  ${rowCache(plan, R, 'x', load)}var mv = ${t}(-inf_f32());
  ${rowPass(plan, R, (c, j) => `mv = max4(mv, ${xv(j, c)});`)}
  var m = row_max(hmax(mv));
  // as the CPU: a row whose max is not finite is not shifted
  if (is_nan(m) || abs(m) == inf_f32()) { m = 0.0; }
  var s = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `s = s + exp(${xv(j, c)} - m);`)}
  let total = row_sum(hsum(s));
  let logSum = log_acc(total);
  ${rowPass(plan, R, (c, j) => `{ let z = ${xv(j, c)} - m; ${rowStore(plan, out.dtype, 'out', `outBase + ${c}`, result)} }`)}
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}
