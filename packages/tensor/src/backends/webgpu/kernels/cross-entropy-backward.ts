/**
 * Fused cross-entropy gradient from logits: (softmax − onehot)·scale per row, one workgroup per
 * row. The probabilities are recomputed from the row max and exp-sum and written straight into
 * the gradient, never stored on their own.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { i32Bits } from '../params.js';
import { logitStats, logitStatsSubgroup } from './cross-entropy.js';
import {
  ROW_FUNCTION,
  type RowPlan,
  rowBuffer,
  rowColumns,
  rowEnables,
  rowLoad,
  rowLoop,
  rowPlan,
  rowPrelude,
  rowStore,
  rowType,
} from './rows.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/**
 * out [N, C] = d loss / d logits for contiguous logits [N, C], int32 targets [N], strided scale
 * [N]. `lanes` > 0 selects the subgroup variant (rows.ts).
 */
export function crossEntropyBackwardLaunch(
  logits: View,
  targets: View,
  scale: View,
  ignoreIndex: number,
  out: View,
  maxWorkgroups: number,
  lanes = 0,
): Launch {
  const [rows, C] = logits.shape;
  const words = [rows, C, logits.offset, targets.offset, out.offset, i32Bits(ignoreIndex)];
  const plan =
    out.dtype === logits.dtype ? rowPlan(lanes, logits.dtype, C, [logits.offset, out.offset]) : null;
  if (plan) return crossEntropyBackwardSubgroupLaunch(logits, scale, out, words, plan, maxWorkgroups);
  const wg = rowWorkgroup(C);
  words.push(wg / 2, scale.offset, scale.strides[0]);
  const dt = logits.dtype;
  return {
    kernel: {
      key: `cross_entropy_backward:${dt}:${wg}`,
      access: ['read_write', 'read', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'logits', 'read', dt)}${buffer(3, 'targets', 'read', 'i32')}${dtypeBuffer(4, 'scale', 'read', dt)}${mathPrelude(dt === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let C = p(1u);
  let base = p(2u) + row * C;
  let outBase = p(4u) + row * C;
  let tgt = targets[p(3u) + row];
  ${logitStats(dt, wg)}
  // ignored rows get a zero gradient (a zero scale would still turn inf logits into NaN)
  let g = select(${load(dt, 'scale', 'p(7u) + row * p(8u)')}, 0.0, tgt == pi(5u));
  let keep = tgt != pi(5u);
  for (var c = lid; c < C; c = c + ${wg}u) {
    let prob = exp(${load(dt, 'logits', 'base + c')} - m) / total;
    let hot = select(0.0, 1.0, i32(c) == tgt);
    ${store(out.dtype, 'out', 'outBase + c', 'select(0.0, (prob - hot) * g, keep)')}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}

/** The subgroup variant: lane reductions by shuffles, vec4 accesses when rows are 4-aligned. */
function crossEntropyBackwardSubgroupLaunch(
  logits: View,
  scale: View,
  out: View,
  words: number[],
  plan: RowPlan,
  maxWorkgroups: number,
): Launch {
  const [rows, C] = logits.shape;
  const { lanes: L, vec: V } = plan;
  words.push(scale.offset, scale.strides[0]);
  const loop = rowLoop(words, L, rows, C, maxWorkgroups);
  const dt = logits.dtype;
  const f16 = dt === 'float16';
  const t = rowType(plan);
  const hot =
    V === 4
      ? `select(${t}(0.0), ${t}(1.0), ${rowColumns(plan, 'c')} == vec4<i32>(tgt))`
      : 'select(0.0, 1.0, i32(c) == tgt)';
  return {
    kernel: {
      key: `cross_entropy_backward:${dt}:sg${L}v${V}`,
      access: ['read_write', 'read', 'read', 'read'],
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${rowBuffer(plan, 1, 'out', 'read_write', out.dtype)}${rowBuffer(plan, 2, 'logits', 'read', dt)}${buffer(3, 'targets', 'read', 'i32')}${dtypeBuffer(4, 'scale', 'read', scale.dtype)}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let C = p(1u);
  let n = C / ${V}u;
  let base = (p(2u) + row * C) / ${V}u;
  let outBase = (p(4u) + row * C) / ${V}u;
  let tgt = targets[p(3u) + row];
  ${logitStatsSubgroup(plan, dt)}
  // ignored rows get a zero gradient (a zero scale would still turn inf logits into NaN)
  let g = select(${load(scale.dtype, 'scale', 'p(6u) + row * p(7u)')}, 0.0, tgt == pi(5u));
  let keep = tgt != pi(5u);
  for (var c = lid; c < n; c = c + ${L}u) {
    let prob = exp(${rowLoad(plan, dt, 'logits', 'base + c')} - m) / total;
    let hot = ${hot};
    ${rowStore(plan, out.dtype, 'out', 'outBase + c', `select(${t}(0.0), (prob - hot) * g, keep)`)}
  }
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}
