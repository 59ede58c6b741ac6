/** Fused LayerNorm / RMSNorm over contiguous rows (two-pass mean and variance, as the CPU). */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import type { Access } from '../pipelines.js';
import { dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';
import { rowWorkgroup, workgroupReductions } from './workgroup.js';

/**
 * out = (x - mean) / sqrt(var + eps) · weight + bias (`center`), or x / sqrt(mean(x²) + eps) ·
 * weight. Weight and bias are 1-D views of any stride, or null.
 */
export function normLaunch(
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
  out: View,
  center: boolean,
  maxWorkgroups: number,
): { launch: Launch; buffers: ('weight' | 'bias')[] } {
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const wg = rowWorkgroup(n);
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
    wg / 2,
  ];
  const extra: ('weight' | 'bias')[] = [];
  if (weight) extra.push('weight');
  if (bias) extra.push('bias');
  const access: Access[] = ['read_write', 'read', ...extra.map(() => 'read' as const)];
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
