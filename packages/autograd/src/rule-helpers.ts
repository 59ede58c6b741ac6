/**
 * Small tensor-op building blocks shared by gradient rules. Like the rules, they use only
 * public tensor ops, so they run on every backend and can themselves be differentiated.
 */
import { arange, type Shape, type Tensor, zeros } from '@kiln/tensor';

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Undoes broadcasting: sums `g` (shaped like an op's broadcast output) down to `shape` (the
 * operand's shape), over the leading dimensions the operand lacked and the size-1 dimensions
 * it was stretched along.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.sum(axes, true) : g;
  return summed.reshape(shape);
}

/** Broadcasts the gradient of a reduction over `axes` back to the input's shape. */
export function unreduce(g: Tensor, inShape: Shape, axes: readonly number[], keepDim: boolean): Tensor {
  return keptShape(g, inShape, axes, keepDim).expand(inShape);
}

/** `t` (a reduction's output or its gradient) reshaped to the keep-dim shape. */
export function keptShape(t: Tensor, inShape: Shape, axes: readonly number[], keepDim: boolean): Tensor {
  return keepDim ? t : t.reshape(inShape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

/** Reverses `t` along `axis` (there is no flip op: an index_select with descending ids). */
export function flip(t: Tensor, axis: number): Tensor {
  const n = t.shape[axis];
  return t.indexSelect(axis, arange(n - 1, -1, -1, { dtype: 'int32', backend: t.backend }));
}

/** Zeros of `shape` and `dtype` on `like`'s backend. */
export function zerosOn(like: Tensor, shape: Shape, dtype = like.dtype): Tensor {
  return zeros(shape, { dtype, backend: like.backend });
}

/** `index` (1-D, length n) shaped to broadcast along `axis` of `shape`, then expanded to it. */
export function alongAxis(index: Tensor, axis: number, shape: Shape): Tensor {
  return index.reshape(shape.map((d, i) => (i === axis ? d : 1))).expand(shape);
}

// erfc(z) = t·exp(-z² - 1.26551223 + t·P(t)), t = 1/(1 + z/2), for z ≥ 0: the Chebyshev fit of
// Numerical Recipes (fractional error < 1.2e-7), the same approximation the cpu backend's gelu
// uses, so finite differences of gelu and its analytic gradient agree closely.
const ERFC_COEFFS = [
  1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223,
  0.17087277,
];

/** erf(x) from elementwise ops (there is no erf op). */
export function erf(x: Tensor): Tensor {
  const z = x.abs();
  const t = z.mul(0.5).add(1).reciprocal();
  let poly = t.mul(ERFC_COEFFS[ERFC_COEFFS.length - 1]);
  for (let i = ERFC_COEFFS.length - 2; i >= 1; i--) poly = poly.add(ERFC_COEFFS[i]).mul(t);
  poly = poly.add(ERFC_COEFFS[0]);
  const erfc = t.mul(z.square().neg().sub(1.26551223).add(t.mul(poly)).exp());
  return x.sign().mul(erfc.neg().add(1));
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Standard normal density φ(x). */
export function normalPdf(x: Tensor): Tensor {
  return x.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
}

/** Standard normal CDF Φ(x) = (1 + erf(x/√2)) / 2. */
export function normalCdf(x: Tensor): Tensor {
  return erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5);
}
