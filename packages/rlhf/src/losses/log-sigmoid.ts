// log σ(x), computed without overflow for large |x|.
import type { Tensor } from '@kiln/tensor';

/**
 * `log σ(x) = −softplus(−x) = min(x, 0) − log(1 + e^{−|x|})`, elementwise: exact for large
 * positive x (→ 0) and large negative x (→ x), where `x.sigmoid().log()` would give −∞.
 */
export function logSigmoid(x: Tensor): Tensor {
  return x.minimum(0).sub(x.abs().neg().exp().add(1).log());
}
