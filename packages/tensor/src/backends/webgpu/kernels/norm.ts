/** Fused LayerNorm / RMSNorm over contiguous rows (two-pass mean and variance, as the CPU). */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import type { Access } from '../pipelines.js';
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
 * out = (x - mean) / sqrt(var + eps) · weight + bias (`center`), or x / sqrt(mean(x²) + eps) ·
 * weight. Weight and bias are 1-D views of any stride, or null. `lanes` > 0 selects the
 * subgroup variant (rows.ts).
 */
export function normLaunch(
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
  out: View,
  center: boolean,
  maxWorkgroups: number,
  lanes = 0,
): { launch: Launch; buffers: ('weight' | 'bias')[] } {
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const words = [
    rows,
    n,
    x.offset,
    out.offset,
    f32Bits(eps),
    weight?.offset ?? 0,
    weight?.strides[0] ?? 0,
    bias?.offset ?? 0,
    bias?.strides[0] ?? 0,
  ];
  const extra: ('weight' | 'bias')[] = [];
  if (weight) extra.push('weight');
  if (bias) extra.push('bias');
  const access: Access[] = ['read_write', 'read', ...extra.map(() => 'read' as const)];
  const plan = rowPlan(lanes, x.dtype, n, [x.offset, out.offset]);
  if (plan) {
    const launch = normSubgroupLaunch(
      x,
      weight,
      bias,
      out,
      center,
      rows,
      n,
      words,
      access,
      plan,
      maxWorkgroups,
    );
    return { launch, buffers: extra };
  }
  const wg = rowWorkgroup(n);
  words.push(wg / 2);
  const decls = extra.map((name, i) => dtypeBuffer(3 + i, name, 'read', x.dtype)).join('');
  const name = center ? 'layer_norm' : 'rms_norm';
  let y = '(v - mu) * rstd';
  if (weight) y = `${y} * ${load(x.dtype, 'weight', 'p(5u) + c * p(6u)')}`;
  if (bias) y = `${y} + ${load(x.dtype, 'bias', 'p(7u) + c * p(8u)')}`;
  const launch: Launch = {
    kernel: {
      key: `${name}:${x.dtype}:${weight ? 'w' : ''}${bias ? 'b' : ''}:${wg}`,
      access,
      build:
        () => `${enables([x.dtype])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'x', 'read', x.dtype)}${decls}${mathPrelude(x.dtype === 'float16')}${workgroupReductions(wg)}
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let base = p(2u) + row * n;
  let outBase = p(3u) + row * n;
  var mu = 0.0;
  ${
    center
      ? `var s = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) { s = s + ${load(x.dtype, 'x', 'base + c')}; }
  mu = wg_sum(lid, s, p(9u)) / f32(n);`
      : ''
  }
  var q = 0.0;
  for (var c = lid; c < n; c = c + ${wg}u) { let d = ${load(x.dtype, 'x', 'base + c')} - mu; q = q + d * d; }
  let rstd = 1.0 / sqrt(wg_sum(lid, q, p(9u)) / f32(n) + pf(4u));
  for (var c = lid; c < n; c = c + ${wg}u) {
    let v = ${load(x.dtype, 'x', 'base + c')};
    ${store(out.dtype, 'out', 'outBase + c', y)}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
  return { launch, buffers: extra };
}

/**
 * WGSL declaration and load expression of a per-column parameter (weight, bias) at row value
 * `c`: a vec4 binding when the plan is vec4 and the view is contiguous and 4-aligned, else
 * scalar loads at `offsetWord` + column · `strideWord`.
 */
export function columnParam(
  plan: RowPlan,
  view: View,
  binding: number,
  name: string,
  offsetWord: number,
  strideWord: number,
): { decl: string; load: (c: string) => string; vec: boolean } {
  const dt = view.dtype;
  const vec = plan.vec === 4 && view.strides[0] === 1 && view.offset % 4 === 0;
  if (vec) {
    return {
      decl: rowBuffer(plan, binding, name, 'read', dt),
      load: (c) => rowLoad(plan, dt, name, `p(${offsetWord}u) / 4u + ${c}`),
      vec,
    };
  }
  const at = (col: string) => load(dt, name, `p(${offsetWord}u) + (${col}) * p(${strideWord}u)`);
  return {
    decl: dtypeBuffer(binding, name, 'read', dt),
    load: (c) =>
      plan.vec === 4 ? `vec4<f32>(${[0, 1, 2, 3].map((k) => at(`${c} * 4u + ${k}u`)).join(', ')})` : at(c),
    vec,
  };
}

/** The subgroup variant of {@link normLaunch}: same passes, lane reductions by shuffles. */
function normSubgroupLaunch(
  x: View,
  weight: View | null,
  bias: View | null,
  out: View,
  center: boolean,
  rows: number,
  n: number,
  words: number[],
  access: Access[],
  plan: RowPlan,
  maxWorkgroups: number,
): Launch {
  const { lanes: L, vec: V } = plan;
  const loop = rowLoop(words, L, rows, n, maxWorkgroups);
  // a row length fixed in the pipeline lets each lane load its part of the row once
  const { count: R, zero, key } = rowRegisterForm(words, plan, n);
  const w = weight ? columnParam(plan, weight, 3, 'weight', 5, 6) : null;
  const b = bias ? columnParam(plan, bias, weight ? 4 : 3, 'bias', 7, 8) : null;
  const f16 = x.dtype === 'float16';
  const t = rowType(plan);
  const yAt = (c: string) => {
    let y = '(v - mu) * rstd';
    if (w) y = `${y} * ${w.load(c)}`;
    if (b) y = `${y} + ${b.load(c)}`;
    return y;
  };
  const name = center ? 'layer_norm' : 'rms_norm';
  const load = (c: string) => rowLoad(plan, x.dtype, 'x', `base + ${c}`);
  const xv = (j: number, c: string) => rowValue(R, 'x', j, c, load);
  return {
    kernel: {
      key: `${name}:${x.dtype}:${w ? (w.vec ? 'W' : 'w') : ''}${b ? (b.vec ? 'B' : 'b') : ''}:sg${L}v${V}${key}`,
      access,
      build:
        () => `${rowEnables(f16)}${uniforms(words.length)}${rowBuffer(plan, 1, 'out', 'read_write', out.dtype)}${rowBuffer(plan, 2, 'x', 'read', x.dtype)}${w?.decl ?? ''}${b?.decl ?? ''}${mathPrelude(f16)}${rowPrelude(plan, f16)}
${ROW_FUNCTION}
  let n = p(1u) / ${V}u;
  let base = (p(2u) + row * p(1u)) / ${V}u;
  let outBase = (p(3u) + row * p(1u)) / ${V}u;
  ${rowCache(plan, R, 'x', load)}var mu = 0.0;
  ${
    center
      ? `var s = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `s = s + ${xv(j, c)};`)}
  mu = row_sum(hsum(s)) / f32(p(1u));`
      : ''
  }
  var q = ${t}(${zero});
  ${rowPass(plan, R, (c, j) => `{ let d = ${xv(j, c)} - mu; q = q + d * d; }`)}
  let rstd = 1.0 / sqrt(row_sum(hsum(q)) / f32(p(1u)) + pf(4u));
  ${rowPass(plan, R, (c, j) => `{ let v = ${xv(j, c)}; ${rowStore(plan, out.dtype, 'out', `outBase + ${c}`, yAt(c))} }`)}
}
${loop.main}`,
    },
    params: words,
    grid: loop.grid,
  };
}
