/**
 * Gradient through an activation, one invocation per element: out = g · act'(x), reading the
 * pre-activation x and the upstream gradient g once each (the composed derivative of gelu_tanh
 * takes about a dozen elementwise dispatches, each a full read and write of the tensor).
 */
import type { MatmulActivation, View } from '../../../backend.js';
import type { Launch } from '../executor.js';
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

/** WGSL statements that set `d`, the gradient for element value `x` and upstream gradient `g`. */
function derivative(activation: MatmulActivation): string {
  switch (activation) {
    case 'none':
      return 'let d = g;';
    // a select, not a product: 0·∞ must not become NaN where x ≤ 0 (as the relu rule's where)
    case 'relu':
      return 'let d = select(0.0, g, x > 0.0);';
    // Φ(x) + x·φ(x), Φ from erfc so that the negative tail keeps its relative accuracy
    case 'gelu':
      return `let r = erfc_pos(abs(x) * 0.70710678118654752);
  let cdf = select(0.5 * r, 1.0 - 0.5 * r, x >= 0.0);
  let d = g * (cdf + x * 0.3989422804014327 * exp(-0.5 * x * x));`;
    // y = x/2·(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³): y' = s·(1 + 2x·(1 − s)·u'),
    // s = σ(2u). Written with σ, not 1 + tanh u, which cancels in the negative tail.
    case 'geluTanh':
      return `let s = 1.0 / (1.0 + exp(-1.5957691216057308 * (x + 0.044715 * x * x * x)));
  let du = 0.7978845608028654 * (1.0 + 0.134145 * x * x);
  let d = g * (s * (1.0 + 2.0 * x * (1.0 - s) * du));`;
    // σ(x)·(1 + x·(1 − σ(x)))
    case 'silu':
      return `let s = 1.0 / (1.0 + exp(-x));
  let d = g * (s * (1.0 + x * (1.0 - s)));`;
  }
}

/** out = gradOut · activation'(pre) over contiguous views of one shape. */
export function activationBackwardLaunch(
  activation: MatmulActivation,
  pre: View,
  gradOut: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const n = out.shape.reduce((a, b) => a * b, 1);
  const dt = out.dtype;
  const words = [n, pre.offset, gradOut.offset, out.offset];
  return {
    kernel: {
      key: `activation_backward:${activation}:${dt}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'pre', 'read', dt)}${dtypeBuffer(3, 'grad', 'read', dt)}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let x = ${load(dt, 'pre', 'p(1u) + idx')};
  let g = ${load(dt, 'grad', 'p(2u) + idx')};
  ${derivative(activation)}
  ${store(dt, 'out', 'p(3u) + idx', 'd')}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}
