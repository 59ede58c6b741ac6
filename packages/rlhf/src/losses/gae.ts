// Generalised advantage estimation (Schulman et al. 2016) over the completion tokens of a batch
// of rollouts: the advantage of each token is the λ-weighted sum of the TD errors after it.
import { noGrad } from '@kiln/autograd';
import { stack, type Tensor, zeros } from '@kiln/tensor';
import { floatMask, requireFloat, requireNumber, requireSameShape } from './checks.js';

/** Options of {@link gae}. */
export interface GAEOptions {
  /** Discount γ (default 1, as TRL's and InstructGPT's PPO: an episode is one short answer). */
  gamma?: number;
  /** λ of the exponential weighting (default 0.95, TRL's `lam`). */
  lambda?: number;
}

/** What {@link gae} returns: `[B, T]` tensors, zero where the mask is. */
export interface GAEOutput {
  /** `A_t`. */
  advantages: Tensor;
  /** `A_t + V_t`: the value model's regression targets. */
  returns: Tensor;
}

/**
 * GAE for per-token `rewards`, `values` and a `mask` (1 on the completion tokens), each `[B, T]`:
 *
 * ```text
 * δ_t = r_t + γ m_{t+1} V_{t+1} − V_t
 * A_t = m_t (δ_t + γ λ m_{t+1} A_{t+1}),   A_T = 0,  m_T = 0
 * R_t = m_t (A_t + V_t)
 * ```
 *
 * so the sum stops at the end of each completion (padding after it contributes nothing). No
 * gradients: advantages and returns are targets.
 */
export function gae(rewards: Tensor, values: Tensor, mask: Tensor, options: GAEOptions = {}): GAEOutput {
  const who = 'gae';
  requireFloat(who, 'rewards', rewards);
  requireFloat(who, 'values', values);
  requireSameShape(who, { rewards, values, mask });
  if (rewards.ndim !== 2)
    throw new RangeError(`${who}: rewards must be [batch, tokens], got [${rewards.shape}]`);
  const { gamma = 1, lambda = 0.95 } = options;
  requireNumber(who, 'gamma', gamma, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  requireNumber(who, 'lambda', lambda, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  return noGrad(() => {
    const [B, T] = rewards.shape;
    const m = floatMask(mask);
    const column = (x: Tensor, t: number) => x.slice(1, t, t + 1).reshape([B]);
    let nextValue = zeros([B], { backend: rewards.backend });
    let nextAdvantage = zeros([B], { backend: rewards.backend });
    let nextMask = zeros([B], { backend: rewards.backend });
    const advantages: Tensor[] = new Array(T);
    for (let t = T - 1; t >= 0; t--) {
      const mt = column(m, t);
      const vt = column(values, t);
      const delta = column(rewards, t).add(nextValue.mul(nextMask).mul(gamma)).sub(vt);
      const at = delta.add(nextAdvantage.mul(nextMask).mul(gamma * lambda)).mul(mt);
      advantages[t] = at;
      nextValue = vt;
      nextAdvantage = at;
      nextMask = mt;
    }
    const A = stack(advantages, 1);
    return { advantages: A, returns: A.add(values).mul(m) };
  });
}
