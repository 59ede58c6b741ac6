/**
 * Fused LayerNorm / RMSNorm backward. Kernel 1, one workgroup per row: recomputes the row's mean
 * and 1/std, keeps them in `stats` [N, 2] (f32) and writes
 * dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·weight (RMSNorm: no mean(ĝ) term, no
 * centring). Kernel 2, one invocation per column: dweight = Σ_rows g·x̂ and dbias = Σ_rows g,
 * reading the saved stats instead of recomputing each row.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import type { Access } from '../pipelines.js';
import { columnParam } from './norm.js';
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
import {
  buffer,
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  rowMain,
  store,
  uniforms,
} from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/**
 * dx and the per-row stats. Buffers: dx, stats, x, g, then weight when given. `lanes` > 0
 * selects the subgroup variant (rows.ts).
 */
export function normBackwardRowsLaunch(
  x: View,
  weight: View | null,
  g: View,
  eps: number,
  center: boolean,
  dx: View,
  stats: View,
  maxWorkgroups: number,
  lanes = 0,
): Launch {
  const n = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const words = [
    rows,
    n,
    x.offset,
    g.offset,
    dx.offset,
    stats.offset,
    f32Bits(eps),
    weight?.offset ?? 0,
    weight?.strides[0] ?? 0,
  ];
  const access: Access[] = ['read_write', 'read_write', 'read', 'read', ...(weight ? ['read' as const] : [])];
  const plan = rowPlan(lanes, x.dtype, n, [x.offset, g.offset, dx.offset]);
  if (plan)
    return normBackwardRowsSubgroupLaunch(x, weight, center, rows, n, words, access, plan, maxWorkgroups);
  const wg = rowWorkgroup(n);
  const dt = x.dtype;
  words.push(wg / 2);
  const gh = weight
    ? `${load(dt, 'g', 'gb + c')} * ${load(dt, 'weight', 'p(7u) + c * p(8u)')}`
    : load(dt, 'g', 'gb + c');
  return {
    kernel: {
      key: `${center ? 'layer' : 'rms'}_norm_backward_rows:${dt}:${weight ? 'w' : ''}:${wg}`,
      access,
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'dx', 'read_write', dt)}${buffer(2, 'stats', 'read_write', 'f32')}${dtypeBuffer(3, 'x', 'read', dt)}${dtypeBuffer(4, 'g', 'read', dt)}${weight ? dtypeBuffer(5, 'weight', 'read', dt) : ''}${mathPrelude(dt === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let xb = p(2u) + row * n;
  let gb = p(3u) + row * n;
  let ob = p(4u) + row * n;
  var mu = 0.0;
  ${
    center
      ? `var s = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) { s = s + ${load(dt, 'x', 'xb + c')}; }
  mu = wg_sum(lid, s, p(9u)) / f32(n);`
      : ''
  }
  var q = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) { let d = ${load(dt, 'x', 'xb + c')} - mu; q = q + d * d; }
  let rstd = 1.0 / sqrt(wg_sum(lid, q, p(9u)) / f32(n) + pf(6u));
  var a = 0.0;
  var b = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) {
    let gh = ${gh};
    a = a + gh;
    b = b + gh * (${load(dt, 'x', 'xb + c')} - mu) * rstd;
  }
  let meanG = ${center ? `wg_sum(lid, a, p(9u)) / f32(n)` : '0.0'};
  let meanGX = wg_sum(lid, b, p(9u)) / f32(n);
  if (lid == 0u) {
    stats[p(5u) + 2u * row] = mu;
    stats[p(5u) + 2u * row + 1u] = rstd;
  }
  for (var c = lid; c < n; c = c + ${wg}u) {
    let xh = (${load(dt, 'x', 'xb + c')} - mu) * rstd;
    ${store(dt, 'dx', 'ob + c', `rstd * (${gh} - meanG - xh * meanGX)`)}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}

/** The subgroup variant of {@link normBackwardRowsLaunch}: same passes, lane reductions by shuffles. */
function normBackwardRowsSubgroupLaunch(
  x: View,
  weight: View | null,
  center: boolean,
  rows: number,
  n: number,
  words: number[],
  access: Access[],
  plan: RowPlan,
  maxWorkgroups: number,
): Launch {
  const { lanes: L, vec: V } = plan;
  const dt = x.dtype;
  const f16 = dt === 'float16';
  const t = rowType(plan);
  const loop = rowLoop(words, L, rows, n, maxWorkgroups);
  // a row length fixed in the pipeline lets each lane load its part of the row once
  const { count: R, zero, key } = rowRegisterForm(words, plan, n);
  const w = weight ? columnParam(plan, weight, 5, 'weight', 7, 8) : null;
  const loadX = (c: string) => rowLoad(plan, dt, 'x', `xb + ${c}`);
  const loadG = (c: string) => rowLoad(plan, dt, 'g', `gb + ${c}`);
  const xv = (j: number, c: string) => rowValue(R, 'x', j, c, loadX);
  const ghAt = (j: number, c: string) => {
    const gv = rowValue(R, 'g', j, c, loadG);
    return w ? `${gv} * ${w.load(c)}` : gv;
  };
  // unrolled, ĝ of the third pass is kept for the last (same bits, no second weight load)
  const gh = (j: number, c: string) => (R ? `gh${j}` : ghAt(j, c));
  return {
    kernel: {
      key: `${center ? 'layer' : 'rms'}_norm_backward_rows:${dt}:${w ? (w.vec ? 'W' : 'w') : ''}:sg${L}v${V}${key}`,
      access,
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${rowBuffer(plan, 1, 'dx', 'read_write', dt)}${buffer(2, 'stats', 'read_write', 'f32')}${rowBuffer(plan, 3, 'x', 'read', dt)}${rowBuffer(plan, 4, 'g', 'read', dt)}${w?.decl ?? ''}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let n = p(1u) / ${V}u;
  let xb = (p(2u) + row * p(1u)) / ${V}u;
  let gb = (p(3u) + row * p(1u)) / ${V}u;
  let ob = (p(4u) + row * p(1u)) / ${V}u;
  let count = f32(p(1u));
  ${rowCache(plan, R, 'x', loadX)}${rowCache(plan, R, 'g', loadG)}var mu = 0.0;
  ${
    center
      ? `var s = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `s = s + ${xv(j, c)};`)}
  mu = row_sum(hsum(s)) / count;`
      : ''
  }
  var q = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `{ let d = ${xv(j, c)} - mu; q = q + d * d; }`)}
  let rstd = 1.0 / sqrt(row_sum(hsum(q)) / count + pf(6u));
  var a = ${t}(${zero});
  var b = ${t}(${zero});
  ${rowPass(plan, R, (c, j) =>
    R
      ? `let gh${j} = ${ghAt(j, c)}; a = a + gh${j}; b = b + gh${j} * (${xv(j, c)} - mu) * rstd;`
      : `let gh = ${ghAt(j, c)}; a = a + gh; b = b + gh * (${xv(j, c)} - mu) * rstd;`,
  )}
  let meanG = ${center ? 'row_sum(hsum(a)) / count' : '0.0'};
  let meanGX = row_sum(hsum(b)) / count;
  if (lid == 0u) {
    stats[p(5u) + 2u * row] = mu;
    stats[p(5u) + 2u * row + 1u] = rstd;
  }
  ${rowPass(plan, R, (c, j) => `{ let xh = (${xv(j, c)} - mu) * rstd; ${rowStore(plan, dt, 'dx', `ob + ${c}`, `rstd * (${gh(j, c)} - meanG - xh * meanGX)`)} }`)}
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}

/** dweight (and dbias) column sums. Buffers: dw, then db when given, then x, g, stats. */
export function normBackwardColumnsLaunch(
  x: View,
  g: View,
  stats: View,
  dw: View,
  db: View | null,
  maxWorkgroups: number,
): Launch {
  const n = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const dt = x.dtype;
  const aligned = n % 4 === 0 && [x, g, dw, ...(db ? [db] : [])].every((t) => t.offset % 4 === 0);
  if (dt === 'float32' && aligned)
    return normBackwardColumnsVec4Launch(x, g, stats, dw, db, rows, n, maxWorkgroups);
  const words = [rows, n, x.offset, g.offset, stats.offset, dw.offset, db?.offset ?? 0];
  const b0 = db ? 3 : 2;
  const access: Access[] = ['read_write', ...(db ? ['read_write' as const] : []), 'read', 'read', 'read'];
  return {
    kernel: {
      key: `norm_backward_columns:${dt}:${db ? 'b' : ''}`,
      access,
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'dw', 'read_write', dt)}${db ? dtypeBuffer(2, 'db', 'read_write', dt) : ''}${dtypeBuffer(b0, 'x', 'read', dt)}${dtypeBuffer(b0 + 1, 'g', 'read', dt)}${buffer(b0 + 2, 'stats', 'read', 'f32')}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  let c = idx;
  let n = p(1u);
  if (c >= n) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < p(0u); r = r + 1u) {
    let gv = ${load(dt, 'g', 'p(3u) + r * n + c')};
    let xh = (${load(dt, 'x', 'p(2u) + r * n + c')} - stats[p(4u) + 2u * r]) * stats[p(4u) + 2u * r + 1u];
    sw = sw + gv * xh;
    sb = sb + gv;
  }
  ${store(dt, 'dw', 'p(5u) + c', 'sw')}
  ${db ? store(dt, 'db', 'p(6u) + c', 'sb') : ''}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/**
 * float32 columns four at a time (vec4 loads: a quarter of the gathers on lavapipe), the same
 * operations per component as the scalar kernel, so the same bits. Offsets and n are in vec4s.
 */
function normBackwardColumnsVec4Launch(
  x: View,
  g: View,
  stats: View,
  dw: View,
  db: View | null,
  rows: number,
  n: number,
  maxWorkgroups: number,
): Launch {
  const words = [rows, n / 4, x.offset / 4, g.offset / 4, stats.offset, dw.offset / 4, (db?.offset ?? 0) / 4];
  const b0 = db ? 3 : 2;
  const access: Access[] = ['read_write', ...(db ? ['read_write' as const] : []), 'read', 'read', 'read'];
  const v4 = 'vec4<f32>';
  return {
    kernel: {
      key: `norm_backward_columns:float32:${db ? 'b' : ''}:v4`,
      access,
      build:
        () => `${uniforms(words.length)}${buffer(1, 'dw', 'read_write', v4)}${db ? buffer(2, 'db', 'read_write', v4) : ''}${buffer(b0, 'x', 'read', v4)}${buffer(b0 + 1, 'g', 'read', v4)}${buffer(b0 + 2, 'stats', 'read', 'f32')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  let c = idx;
  let n = p(1u);
  if (c >= n) { return; }
  var sw = ${v4}(0.0);
  var sb = ${v4}(0.0);
  for (var r = 0u; r < p(0u); r = r + 1u) {
    let gv = g[p(3u) + r * n + c];
    let xh = (x[p(2u) + r * n + c] - stats[p(4u) + 2u * r]) * stats[p(4u) + 2u * r + 1u];
    sw = sw + gv * xh;
    sb = sb + gv;
  }
  dw[p(5u) + c] = sw;
  ${db ? 'db[p(6u) + c] = sb;' : ''}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / 4 / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}
