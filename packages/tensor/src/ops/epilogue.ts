/**
 * Matmul with a fused epilogue (bias + activation, the body of a `Linear` layer and of an MLP's
 * first projection) and the activation derivative its backward needs. Each op calls the
 * backend's optional kernel when it has one and otherwise composes the same math from public
 * ops, so every backend is correct before it is fast (see docs/backends.md).
 */
import type { MatmulActivation } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import { broadcastShapes, contiguousStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { broadcastBatch3, matmul } from './linalg.js';
import { empty, makeView, requireFloat, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

const ACTIVATIONS: readonly MatmulActivation[] = ['none', 'relu', 'gelu', 'geluTanh', 'silu'];

/** Options of {@link matmulEpilogue}. */
export interface MatmulEpilogueOptions {
  /** 1-D `[N]` (the last dimension of the product), added to every row; default none. */
  bias?: Tensor | null;
  /** Applied after the bias (default `'none'`); `geluTanh` is GPT-2's tanh approximation. */
  activation?: MatmulActivation;
  /**
   * Also write the value before the activation (`a @ b + bias`), for a backward pass to read
   * instead of recomputing the product. A hint for callers that will differentiate (a layer
   * under autograd's grad mode); it changes no result, only costs one more store per element.
   * Ignored for `none`, whose gradient needs no value.
   */
  keepPreActivation?: boolean;
}

function checkActivation(op: string, activation: MatmulActivation): void {
  if (!ACTIVATIONS.includes(activation))
    throw new RangeError(
      `${op}: activation must be one of ${ACTIVATIONS.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(activation)}`,
    );
}

function checkEpilogue(a: Tensor, b: Tensor, bias: Tensor | null, activation: MatmulActivation): void {
  if (!(a instanceof Tensor) || !(b instanceof Tensor))
    throw new TypeError('matmulEpilogue: a and b must be Tensors');
  checkActivation('matmulEpilogue', activation);
  requireFloat('matmulEpilogue', a);
  sameDType('matmulEpilogue', a, b);
  if (a.ndim < 2 || b.ndim < 2)
    throw new ShapeError(
      `matmulEpilogue: operands must be at least 2-D, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}; unsqueeze a vector to a [1, k] row or a [k, 1] column first`,
    );
  const k = a.shape[a.ndim - 1];
  const k2 = b.shape[b.ndim - 2];
  if (k !== k2)
    throw new ShapeError(
      `matmulEpilogue: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2})`,
    );
  if (bias) {
    if (!(bias instanceof Tensor)) throw new TypeError('matmulEpilogue: bias must be a Tensor or null');
    if (bias.dtype !== a.dtype)
      throw new DTypeError(
        `matmulEpilogue: bias is ${bias.dtype} but the operands are ${a.dtype}; cast it with .cast('${a.dtype}')`,
      );
    const n = b.shape[b.ndim - 1];
    if (bias.ndim !== 1 || bias.shape[0] !== n)
      throw new ShapeError(
        `matmulEpilogue: bias must be 1-D [${n}] (one value per output column of ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}), got ${fmtShape(bias.shape)}`,
      );
  }
}

/** `x` through `activation` with the public unary ops (what the fused epilogue must equal). */
function activate(x: Tensor, activation: MatmulActivation): Tensor {
  switch (activation) {
    case 'none':
      return x.alias();
    case 'relu':
      return x.relu();
    case 'gelu':
      return x.gelu();
    case 'geluTanh':
      return x.gelu({ approximate: 'tanh' });
    case 'silu':
      return x.silu();
  }
}

/**
 * `activation(a @ b + bias)` in one kernel where the backend has it: the bias and activation
 * are applied to the accumulator before the store, so the product never makes a round trip
 * through memory. Shapes as {@link matmul} (`[..., m, k] @ [..., k, n]`, batch dimensions
 * broadcast, transposed views read in place), both operands at least 2-D; `bias` is `[n]`.
 * For a PyTorch-style linear layer with weight `[out, in]`: `matmulEpilogue(x, w.T, { bias })`.
 * Differentiable through autograd's `matmulEpilogue` rule.
 */
export function matmulEpilogue(a: Tensor, b: Tensor, options: MatmulEpilogueOptions = {}): Tensor {
  const bias = options.bias ?? null;
  const activation = options.activation ?? 'none';
  checkEpilogue(a, b, bias, activation);
  const keep = !!options.keepPreActivation && activation !== 'none';
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const n = b.shape[b.ndim - 1];
  const batchShape = broadcastShapes('matmulEpilogue', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const outShape = [...batchShape, m, n];
  const inputs = bias ? [a, b, bias] : [a, b];
  // keepPreActivation tells autograd's rule whether output 1 (the pre-activation) exists
  const attrs = { activation, hasBias: !!bias, keepPreActivation: keep };
  const outs = dispatch('matmulEpilogue', inputs, attrs, (): Tensor[] =>
    withTemps((tmp) => {
      const be = a.backend;
      if (be.matmulEpilogue && k > 0 && batch * m * n > 0) {
        const A = tmp(broadcastBatch3(a, a.shape, a.strides, [...batchShape, m, k], batch));
        const B = tmp(broadcastBatch3(b, b.shape, b.strides, [...batchShape, k, n], batch));
        const out = empty(be, outShape, a.dtype);
        const pre = keep ? empty(be, outShape, a.dtype) : null;
        const as3 = (t: Tensor) =>
          tmp(makeView(t, [batch, m, n], contiguousStrides([batch, m, n]), 0)).view_();
        be.matmulEpilogue(A.view_(), B.view_(), as3(out), {
          bias: bias?.view_() ?? null,
          activation,
          preActivation: pre ? as3(pre) : null,
        });
        return pre ? [out, pre] : [out];
      }
      // the composition the fused kernel stands for (also the k = 0 and empty cases)
      const product = tmp(matmul(a, b));
      const pre = bias ? tmp(product.add(bias)) : product;
      const out = activate(pre, activation);
      return keep ? [out, pre.alias()] : [out];
    }),
  );
  // autograd (when it recorded the op) holds its own alias of the pre-activation
  for (const t of outs.slice(1)) t.dispose();
  return outs[0];
}

/**
 * Gradient through `activation` from the value before it: `gradOut · activation'(pre)` (for
 * `relu`, `gradOut` where `pre > 0`). One elementwise kernel where the backend has it, instead
 * of the handful of ops the composed derivative takes.
 */
export function activationBackward(activation: MatmulActivation, pre: Tensor, gradOut: Tensor): Tensor {
  checkActivation('activationBackward', activation);
  requireFloat('activationBackward', pre);
  sameDType('activationBackward', pre, gradOut);
  if (pre.shape.join() !== gradOut.shape.join())
    throw new ShapeError(
      `activationBackward: pre ${fmtShape(pre.shape)} and gradOut ${fmtShape(gradOut.shape)} must have the same shape`,
    );
  return dispatch('activationBackward', [pre, gradOut], { activation }, () =>
    withTemps((tmp) => {
      const be = pre.backend;
      if (!be.activationBackward) return activationBackwardComposite(activation, pre, gradOut);
      const [p, g] = [tmp(contiguous(pre)), tmp(contiguous(gradOut))];
      const out = empty(be, pre.shape, pre.dtype);
      if (out.size > 0) be.activationBackward(activation, p.view_(), g.view_(), out.view_());
      return out;
    }),
  );
}

// erfc(z) = t·exp(−z² − 1.26551223 + t·P(t)), t = 1/(1 + z/2), z ≥ 0: the Chebyshev fit the
// cpu backend's erf uses (fractional error < 1.2e-7).
const ERFC_COEFFS = [
  1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223,
  0.17087277,
];

/** Standard normal CDF Φ(x) from elementwise ops (there is no erf op). */
function normalCdf(x: Tensor): Tensor {
  return withTemps((tmp) => {
    const z = tmp(tmp(x.abs()).mul(Math.SQRT1_2));
    const t = tmp(tmp(tmp(z.mul(0.5)).add(1)).reciprocal());
    let poly = tmp(t.mul(ERFC_COEFFS[ERFC_COEFFS.length - 1]));
    for (let i = ERFC_COEFFS.length - 2; i >= 1; i--) poly = tmp(tmp(poly.add(ERFC_COEFFS[i])).mul(t));
    poly = tmp(poly.add(ERFC_COEFFS[0]));
    const expo = tmp(tmp(tmp(tmp(z.square()).neg()).sub(1.26551223)).add(tmp(t.mul(poly))));
    const erfc = tmp(t.mul(tmp(expo.exp())));
    const erf = tmp(tmp(x.sign()).mul(tmp(tmp(erfc.neg()).add(1))));
    return tmp(erf.add(1)).mul(0.5);
  });
}

/**
 * {@link activationBackward} from public ops only, so it can itself be differentiated: autograd
 * uses it when it records backward (`createGraph`), and backends without the kernel fall back to it.
 */
export function activationBackwardComposite(
  activation: MatmulActivation,
  pre: Tensor,
  gradOut: Tensor,
): Tensor {
  const x = pre;
  const g = gradOut;
  return withTemps((tmp) => {
    switch (activation) {
      case 'none':
        return g.mul(1); // a fresh tensor, tracked like any op result
      case 'relu':
        return where(tmp(x.gt(0)), g, 0);
      case 'gelu': {
        // Φ(x) + x·φ(x)
        const pdf = tmp(tmp(tmp(tmp(x.square()).mul(-0.5)).exp()).mul(1 / Math.sqrt(2 * Math.PI)));
        return g.mul(tmp(tmp(normalCdf(x)).add(tmp(x.mul(pdf)))));
      }
      case 'geluTanh': {
        // y = x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³)
        const c = Math.sqrt(2 / Math.PI);
        const x2 = tmp(x.square());
        const th = tmp(tmp(tmp(tmp(tmp(x2.mul(0.044715)).add(1)).mul(x)).mul(c)).tanh());
        const du = tmp(tmp(tmp(x2.mul(3 * 0.044715)).add(1)).mul(c));
        const sech2 = tmp(tmp(tmp(th.square()).neg()).add(1));
        const d = tmp(tmp(tmp(th.add(1)).mul(0.5)).add(tmp(tmp(tmp(x.mul(0.5)).mul(sech2)).mul(du))));
        return g.mul(d);
      }
      case 'silu': {
        // σ(x)·(1 + x·(1 − σ(x)))
        const s = tmp(x.sigmoid());
        return g.mul(tmp(s.mul(tmp(tmp(x.mul(tmp(tmp(s.neg()).add(1)))).add(1)))));
      }
    }
  });
}
