/**
 * CPU reference of the matmul epilogue and of the activation derivatives (`ops/epilogue.ts`).
 * The epilogue rounds after the product, after the bias and after the activation, exactly where
 * the composition matmul → add → unary stores, so fused and composed results are identical.
 */
import type { MatmulActivation, MatmulEpilogue, View } from '../../backend.js';
import type { HostArray } from '../../dtype.js';
import { rounder } from './fused.js';
import { erf, SQRT_2_OVER_PI, unaryFn } from './math.js';

type V = View<HostArray>;

/**
 * Applies `epilogue` in place to `out` (contiguous [B, M, N], already holding the rounded
 * product): adds the bias per column, stores `preActivation` when asked, then the activation.
 */
export function applyEpilogue(out: V, epilogue: MatmulEpilogue<HostArray>): void {
  const N = out.shape[out.shape.length - 1];
  const size = out.shape.reduce((a, b) => a * b, 1);
  const r = rounder(out);
  const { bias, preActivation: pre, activation } = epilogue;
  const act = activation === 'none' ? null : unaryFn(activation, undefined);
  const o = out.storage;
  for (let i = 0; i < size; i++) {
    let v = o[out.offset + i];
    if (bias) v = r(v + bias.storage[bias.offset + (i % N) * bias.strides[0]]);
    if (pre) pre.storage[pre.offset + i] = v;
    o[out.offset + i] = act ? r(act(v)) : v;
  }
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d activation / dx at x, in float64 (the formulas of autograd's unary rules). */
export function activationDerivative(activation: MatmulActivation): (x: number) => number {
  switch (activation) {
    case 'none':
      return () => 1;
    case 'relu':
      return (x) => (x > 0 ? 1 : 0);
    // Φ(x) + x·φ(x)
    case 'gelu':
      return (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    // y = x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³)
    case 'geluTanh':
      return (x) => {
        const th = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
        const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du;
      };
    // σ(x)·(1 + x·(1 − σ(x)))
    case 'silu':
      return (x) => {
        const s = 1 / (1 + Math.exp(-x));
        return s * (1 + x * (1 - s));
      };
  }
}

/** out = gradOut · activation'(pre), computed in float64 and rounded once. */
export function activationBackward(activation: MatmulActivation, pre: V, gradOut: V, out: V): void {
  const size = out.shape.reduce((a, b) => a * b, 1);
  const r = rounder(out);
  const d = activationDerivative(activation);
  for (let i = 0; i < size; i++) {
    const g = gradOut.storage[gradOut.offset + i];
    // relu passes nothing where x ≤ 0 (a where(), not a product: 0·∞ must not become NaN)
    if (activation === 'relu') out.storage[out.offset + i] = pre.storage[pre.offset + i] > 0 ? g : 0;
    else out.storage[out.offset + i] = r(g * d(pre.storage[pre.offset + i]));
  }
}
