// Per-token estimators of KL(π ‖ π_ref) from tokens sampled by π (Schulman, "Approximating KL
// divergence", 2020): k1 is unbiased but can be negative, k2 is low-variance but biased, k3 is
// unbiased and always ≥ 0 (GRPO's estimator, DeepSeekMath eq. 4).
import type { Tensor } from '@kiln/tensor';
import { requireFloat, requireSameShape } from './checks.js';

/** The KL estimator: `k1`, `k2` or `k3`. */
export type KLEstimator = 'k1' | 'k2' | 'k3';

/**
 * The KL estimate at each token, with `log r = refLogp − logp` (log-probabilities of the
 * sampled tokens under the reference and the policy, same shape):
 *
 * - `k1 = −log r = logp − refLogp`
 * - `k2 = ½ (log r)²`
 * - `k3 = r − 1 − log r = exp(refLogp − logp) − (refLogp − logp) − 1`
 *
 * Differentiable in both; mask and average it yourself (e.g. `maskedMean`).
 */
export function klPenalty(logp: Tensor, refLogp: Tensor, estimator: KLEstimator = 'k3'): Tensor {
  requireFloat('klPenalty', 'logp', logp);
  requireFloat('klPenalty', 'refLogp', refLogp);
  requireSameShape('klPenalty', { logp, refLogp });
  const logRatio = refLogp.sub(logp);
  switch (estimator) {
    case 'k1':
      return logRatio.neg();
    case 'k2':
      return logRatio.square().mul(0.5);
    case 'k3':
      return logRatio.exp().sub(logRatio).sub(1);
    default:
      throw new RangeError(`klPenalty: estimator must be 'k1', 'k2' or 'k3', got ${String(estimator)}`);
  }
}
