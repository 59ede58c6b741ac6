// Means and whitening over the tokens a mask selects (completion tokens of a rollout batch).
import type { Tensor } from '@kiln/tensor';
import { floatMask } from './checks.js';

/** `Σ x·m / Σ m` over every element (0-d), or over `axis` (the mask counts per row). */
export function maskedMean(x: Tensor, mask: Tensor, axis?: number): Tensor {
  const m = floatMask(mask);
  if (axis === undefined) return x.mul(m).sum().div(m.sum());
  return x.mul(m).sum(axis).div(m.sum(axis));
}

/**
 * The masked variance `Σ m (x − mean)² / Σ m`, times `n / (n − 1)` with Bessel's correction
 * (default, as the PPO implementations of TRL and OpenRLHF), `n = Σ m`.
 */
export function maskedVariance(x: Tensor, mask: Tensor, unbiased = true): Tensor {
  const m = floatMask(mask);
  const n = m.sum();
  const centred = x.sub(maskedMean(x, m));
  const variance = centred.square().mul(m).sum().div(n);
  return unbiased ? variance.mul(n).div(n.sub(1)) : variance;
}

/**
 * Whitening over the masked elements: `(x − mean) / √(var + 1e-8)`, or `x / √(var + 1e-8)`
 * with the mean added back when `shiftMean` is false (PPO whitens advantages with the shift and
 * rewards without it). Masked-out elements come out 0.
 */
export function maskedWhiten(x: Tensor, mask: Tensor, shiftMean = true): Tensor {
  const m = floatMask(mask);
  const mean = maskedMean(x, m);
  const scale = maskedVariance(x, m).add(1e-8).rsqrt();
  const out = x.sub(mean).mul(scale);
  return (shiftMean ? out : out.add(mean)).mul(m);
}
