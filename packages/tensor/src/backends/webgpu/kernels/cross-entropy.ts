/** Fused per-row cross-entropy from logits: m + log Σ exp(x - m) - x[target], one workgroup per row. */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { i32Bits } from '../params.js';
import {
  ROW_FUNCTION,
  type RowPlan,
  rowBuffer,
  rowEnables,
  rowLoad,
  rowLoop,
  rowPlan,
  rowPrelude,
  rowType,
} from './rows.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/**
 * out[r] = loss of row r of contiguous `logits` [N, C] against int32 `targets` [N]; 0 where
 * ignored. `lanes` > 0 selects the subgroup variant (rows.ts).
 */
export function crossEntropyLaunch(
  logits: View,
  targets: View,
  ignoreIndex: number,
  out: View,
  maxWorkgroups: number,
  lanes = 0,
): Launch {
  const [rows, C] = logits.shape;
  const words = [rows, C, logits.offset, targets.offset, out.offset, i32Bits(ignoreIndex)];
  const plan = rowPlan(lanes, logits.dtype, C, [logits.offset]);
  if (plan) return crossEntropySubgroupLaunch(logits, out, words, plan, maxWorkgroups);
  const wg = rowWorkgroup(C);
  words.push(wg / 2);
  const dt = logits.dtype;
  return {
    kernel: {
      key: `cross_entropy:${dt}:${wg}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'logits', 'read', dt)}${buffer(3, 'targets', 'read', 'i32')}${mathPrelude(dt === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let C = p(1u);
  let base = p(2u) + row * C;
  let tgt = targets[p(3u) + row];
  ${logitStats(dt, wg)}
  if (lid == 0u) {
    // every invocation ran the reductions above (barriers need uniform control flow); only now branch
    let picked = ${load(dt, 'logits', 'base + u32(clamp(tgt, 0, i32(C) - 1))')};
    let loss = select(m + log_acc(total) - picked, 0.0, tgt == pi(5u));
    ${store(out.dtype, 'out', 'p(4u) + row', 'loss')}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}

/** The subgroup variant: lane reductions by shuffles, vec4 logits when rows are 4-aligned. */
function crossEntropySubgroupLaunch(
  logits: View,
  out: View,
  words: number[],
  plan: RowPlan,
  maxWorkgroups: number,
): Launch {
  const [rows, C] = logits.shape;
  const { lanes: L, vec: V } = plan;
  const loop = rowLoop(words, L, rows, C, maxWorkgroups);
  const dt = logits.dtype;
  const f16 = dt === 'float16' || out.dtype === 'float16';
  const tc = 'u32(clamp(tgt, 0, i32(C) - 1))';
  const picked =
    V === 4
      ? `${rowLoad(plan, dt, 'logits', `base + ${tc} / 4u`)}[${tc} % 4u]`
      : rowLoad(plan, dt, 'logits', `base + ${tc}`);
  return {
    kernel: {
      key: `cross_entropy:${dt}>${out.dtype}:sg${L}v${V}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${rowBuffer(plan, 2, 'logits', 'read', dt)}${buffer(3, 'targets', 'read', 'i32')}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let C = p(1u);
  let n = C / ${V}u;
  let base = (p(2u) + row * C) / ${V}u;
  let tgt = targets[p(3u) + row];
  ${logitStatsSubgroup(plan, dt)}
  if (lid == 0u) {
    let picked = ${picked};
    let loss = select(m + log_acc(total) - picked, 0.0, tgt == pi(5u));
    ${store(out.dtype, 'out', 'p(4u) + row', 'loss')}
  }
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}

/**
 * WGSL of a logits row's max `m` and exp-sum `total` = Σ exp(logit − m) in a workgroup variant
 * (`wg` invocations, half of them in uniform word 6); cross-entropy-backward.ts shares it.
 */
export function logitStats(dt: DType, wg: number): string {
  return `var m = -inf_f32();
  for (var c = lid; c < C; c = c + ${wg}u) { m = max_nan(m, ${load(dt, 'logits', 'base + c')}); }
  m = wg_max(lid, m, p(6u));
  var s = 0.0;
  for (var c = lid; c < C; c = c + ${wg}u) { s = s + exp(${load(dt, 'logits', 'base + c')} - m); }
  let total = wg_sum(lid, s, p(6u));`;
}

/** {@link logitStats} in a subgroup variant: `n` row values of `plan` per row, lane by lane. */
export function logitStatsSubgroup(plan: RowPlan, dt: DType): string {
  const t = rowType(plan);
  const L = plan.lanes;
  return `var mv = ${t}(-inf_f32());
  for (var c = lid; c < n; c = c + ${L}u) { mv = max4(mv, ${rowLoad(plan, dt, 'logits', 'base + c')}); }
  let m = row_max(hmax(mv));
  var s = ${t}(0.0);
  for (var c = lid; c < n; c = c + ${L}u) { s = s + exp(${rowLoad(plan, dt, 'logits', 'base + c')} - m); }
  let total = row_sum(hsum(s));`;
}
