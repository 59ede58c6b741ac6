/**
 * One AdamW step in place, one invocation per element: the moments and the parameter are read
 * and written once, and every scalar of the step travels in the uniform block. With a device
 * control buffer ([skip, step], float32) the kernel returns at once when skip ≠ 0 and computes
 * the bias corrections from the step count on the device, so a mixed-precision step can be
 * skipped without reading its overflow flag back (PyTorch's fused AdamW `found_inf`).
 */
import type { AdamWScalars, View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import {
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  store,
  uniforms,
} from './wgsl.js';

/**
 * The AdamW launch over `p`, `g`, `m`, `v` (contiguous, same length). float32 operands whose
 * length and offsets are multiples of 4 take the vec4 variant: one vec4 of each per invocation,
 * the same operations per component (so the same bits), a quarter of the gathers on lavapipe.
 */
export function adamwUpdateLaunch(
  p: View,
  g: View,
  m: View,
  v: View,
  s: AdamWScalars,
  maxWorkgroups: number,
  control?: View,
): Launch {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const dt = p.dtype;
  const scalars = [s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.decay, s.stepSize, s.sqrtC2, s.eps];
  const vec4 = dt === 'float32' && n % 4 === 0 && [p, g, m, v].every((t) => t.offset % 4 === 0);
  if (vec4) return adamwVec4Launch(n, [p, g, m, v], scalars, maxWorkgroups, s.lr, s.step, control);
  const words = [
    n,
    p.offset,
    g.offset,
    m.offset,
    v.offset,
    ...scalars.map(f32Bits),
    ...controlWords(s.lr, s.step, control),
  ];
  return {
    kernel: {
      key: `adamw:${dt}${control ? ':ctl' : ''}`,
      access: ['read_write', 'read_write', 'read_write', 'read', ...(control ? (['read'] as const) : [])],
      // the operations and their order mirror the composite in ops/adamw-update.ts
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'param', 'read_write', dt)}${dtypeBuffer(2, 'm', 'read_write', dt)}${dtypeBuffer(3, 'v', 'read_write', dt)}${dtypeBuffer(4, 'grad', 'read', dt)}${control ? CONTROL_BINDING : ''}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
${control ? CONTROL_PROLOGUE : HOST_SCALARS}
  let gi = ${load(dt, 'grad', 'p(2u) + idx')};
  let mn = ${load(dt, 'm', 'p(3u) + idx')} * pf(5u) + gi * pf(6u);
  let vn = ${load(dt, 'v', 'p(4u) + idx')} * pf(7u) + (gi * gi) * pf(8u);
  let denom = sqrt(vn) / sqrtC2 + pf(12u);
  let pn = ${load(dt, 'param', 'p(1u) + idx')} * pf(9u) - (mn / denom) * stepSize;
  ${store(dt, 'm', 'p(3u) + idx', 'mn')}
  ${store(dt, 'v', 'p(4u) + idx', 'vn')}
  ${store(dt, 'param', 'p(1u) + idx', 'pn')}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/** The vec4 variant for float32: word 0 counts vec4s, offsets are in vec4s. */
function adamwVec4Launch(
  n: number,
  views: View[],
  scalars: number[],
  maxWorkgroups: number,
  lr: number,
  step: number,
  control: View | undefined,
): Launch {
  const [p, g, m, v] = views;
  const words = [
    n / 4,
    p.offset / 4,
    g.offset / 4,
    m.offset / 4,
    v.offset / 4,
    ...scalars.map(f32Bits),
    ...controlWords(lr, step, control),
  ];
  const vec = (binding: number, name: string, access: 'read' | 'read_write') =>
    `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<vec4<f32>>;\n`;
  return {
    kernel: {
      key: `adamw:float32:v4${control ? ':ctl' : ''}`,
      access: ['read_write', 'read_write', 'read_write', 'read', ...(control ? (['read'] as const) : [])],
      // the same operations in the same order as the scalar kernel above, per component
      build:
        () => `${uniforms(words.length)}${vec(1, 'param', 'read_write')}${vec(2, 'm', 'read_write')}${vec(3, 'v', 'read_write')}${vec(4, 'grad', 'read')}${control ? CONTROL_BINDING : ''}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
${control ? CONTROL_PROLOGUE : HOST_SCALARS}
  let gi = grad[p(2u) + idx];
  let mn = m[p(3u) + idx] * pf(5u) + gi * pf(6u);
  let vn = v[p(4u) + idx] * pf(7u) + (gi * gi) * pf(8u);
  let denom = sqrt(vn) / sqrtC2 + pf(12u);
  let pn = param[p(1u) + idx] * pf(9u) - (mn / denom) * stepSize;
  m[p(3u) + idx] = mn;
  v[p(4u) + idx] = vn;
  param[p(1u) + idx] = pn;
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / 4 / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/** Words 13–15 with a control buffer: its offset, the learning rate and the host's step count. */
function controlWords(lr: number, step: number, control: View | undefined): number[] {
  if (!control) return [];
  if (control.dtype !== 'float32')
    throw new TypeError(`adamwUpdate: the control tensor must be float32, got ${control.dtype}`);
  return [control.offset, f32Bits(lr), f32Bits(step)];
}

const CONTROL_BINDING = '@group(0) @binding(5) var<storage, read> ctl: array<f32>;\n';

/** The step size and sqrt(1 − β2ᵗ) from the uniforms (the host knows the step). */
const HOST_SCALARS = `  let stepSize = pf(10u);
  let sqrtC2 = pf(11u);`;

/**
 * The device-controlled step: nothing is written when ctl[0] ≠ 0; the bias corrections are for
 * the step count t = ctl[1]: the host's (the same bits as without control) when t is the host's
 * count, else computed here (stepSize = lr / (1 − β1ᵗ), sqrtC2 = sqrt(1 − β2ᵗ)), which happens
 * only after a skipped step the host has not read back yet.
 */
const CONTROL_PROLOGUE = `  if (ctl[p(13u)] != 0.0) { return; }
  let t = ctl[p(13u) + 1u];
  var stepSize = pf(10u);
  var sqrtC2 = pf(11u);
  if (t != pf(15u)) {
    stepSize = pf(14u) / (1.0 - pow(pf(5u), t));
    sqrtC2 = sqrt(1.0 - pow(pf(7u), t));
  }`;
