/**
 * One AdamW step in place, one invocation per element: the moments and the parameter are read
 * and written once, and every scalar of the step travels in the uniform block.
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

export function adamwLaunch(
  p: View,
  g: View,
  m: View,
  v: View,
  s: AdamWScalars,
  maxWorkgroups: number,
): Launch {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const dt = p.dtype;
  const scalars = [s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.decay, s.stepSize, s.sqrtC2, s.eps];
  const words = [n, p.offset, g.offset, m.offset, v.offset, ...scalars.map(f32Bits)];
  return {
    kernel: {
      key: `adamw:${dt}`,
      access: ['read_write', 'read_write', 'read_write', 'read'],
      // the operations and their order mirror the composite in ops/fused.ts
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'param', 'read_write', dt)}${dtypeBuffer(2, 'm', 'read_write', dt)}${dtypeBuffer(3, 'v', 'read_write', dt)}${dtypeBuffer(4, 'grad', 'read', dt)}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let gi = ${load(dt, 'grad', 'p(2u) + idx')};
  let mn = ${load(dt, 'm', 'p(3u) + idx')} * pf(5u) + gi * pf(6u);
  let vn = ${load(dt, 'v', 'p(4u) + idx')} * pf(7u) + (gi * gi) * pf(8u);
  let denom = sqrt(vn) / pf(11u) + pf(12u);
  let pn = ${load(dt, 'param', 'p(1u) + idx')} * pf(9u) - (mn / denom) * pf(10u);
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
