/**
 * The weighted combine: each pair's expert output times its gate weight, summed over a token's
 * k choices. Dropped pairs arrive as zero rows, so they add nothing (the token keeps its
 * residual and its other experts' outputs).
 */
import type { Tensor } from '@kiln/tensor';

/** `y [N·k, d]` (slot-major pairs) and `gates [N, k]` → `[N, d]`. */
export function combinePairs(y: Tensor, gates: Tensor): Tensor {
  const [N, k] = gates.shape;
  const d = y.shape[1];
  const g = gates.T.reshape([k * N, 1]);
  const weighted = y.mul(g);
  return k === 1 ? weighted : weighted.reshape([k, N, d]).sum(0);
}
