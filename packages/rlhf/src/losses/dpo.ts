// Direct Preference Optimization (Rafailov et al. 2023) and two relatives on the same
// log-ratio: IPO (Azar et al. 2023) and the hinge loss of SLiC (Zhao et al. 2023).
import { detach } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { requireFloat, requireNumber, requireSameShape } from './checks.js';
import { logSigmoid } from './log-sigmoid.js';

/** The DPO-family loss: `sigmoid` (DPO), `ipo` or `hinge`. */
export type DPOLossType = 'sigmoid' | 'ipo' | 'hinge';

/** Options of {@link dpoLoss}. */
export interface DPOLossOptions {
  /** β: the strength of the implicit KL constraint (TRL's default 0.1). */
  beta: number;
  /** Which loss (default `sigmoid`). */
  lossType?: DPOLossType;
  /**
   * ε of conservative DPO (cDPO, Mitchell 2023): the probability that a label is flipped
   * (sigmoid loss only; default 0). Must be in [0, 0.5).
   */
  labelSmoothing?: number;
}

/** What {@link dpoLoss} returns. */
export interface DPOLossOutput {
  /** 0-d: the mean loss over the pairs. */
  loss: Tensor;
  /** `β (log π(y_c) − log π_ref(y_c))` per pair, detached: DPO's implicit reward of the chosen answers. */
  chosenRewards: Tensor;
  /** The same for the rejected answers. */
  rejectedRewards: Tensor;
}

/**
 * The DPO loss over N pairs from the sequence log-probabilities (sums over the answer's tokens,
 * e.g. from `sequenceLogprobs(...).sum(-1)`) of the chosen and rejected answers under the
 * policy and the frozen reference, each `[N]`. With
 * `h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))` and `ε = labelSmoothing`:
 *
 * ```text
 * sigmoid: −(1 − ε) log σ(β h) − ε log σ(−β h)
 * ipo:     (h − 1/(2β))²
 * hinge:   max(0, 1 − β h)
 * ```
 *
 * IPO's paper uses log-probabilities averaged over the answer's tokens, not summed; pass those
 * for it (TRL does the same).
 */
export function dpoLoss(
  policyChosenLogps: Tensor,
  policyRejectedLogps: Tensor,
  refChosenLogps: Tensor,
  refRejectedLogps: Tensor,
  options: DPOLossOptions,
): DPOLossOutput {
  const who = 'dpoLoss';
  const inputs = { policyChosenLogps, policyRejectedLogps, refChosenLogps, refRejectedLogps };
  for (const [name, t] of Object.entries(inputs)) requireFloat(who, name, t);
  requireSameShape(who, inputs);
  const { beta, lossType = 'sigmoid', labelSmoothing = 0 } = options ?? ({} as DPOLossOptions);
  requireNumber(who, 'beta', beta, (v) => v > 0, 'a number > 0');
  requireNumber(who, 'labelSmoothing', labelSmoothing, (v) => v >= 0 && v < 0.5, 'in [0, 0.5)');
  if (labelSmoothing > 0 && lossType !== 'sigmoid') {
    throw new RangeError(`${who}: labelSmoothing applies to the sigmoid loss only, not '${lossType}'`);
  }
  const chosenRatio = policyChosenLogps.sub(refChosenLogps);
  const rejectedRatio = policyRejectedLogps.sub(refRejectedLogps);
  const h = chosenRatio.sub(rejectedRatio);
  let losses: Tensor;
  switch (lossType) {
    case 'sigmoid': {
      const z = h.mul(beta);
      losses = logSigmoid(z).mul(-(1 - labelSmoothing));
      if (labelSmoothing > 0) losses = losses.sub(logSigmoid(z.neg()).mul(labelSmoothing));
      break;
    }
    case 'ipo':
      losses = h.sub(1 / (2 * beta)).square();
      break;
    case 'hinge':
      losses = h.mul(-beta).add(1).relu();
      break;
    default:
      throw new RangeError(`${who}: lossType must be 'sigmoid', 'ipo' or 'hinge', got ${String(lossType)}`);
  }
  return {
    loss: losses.mean(),
    chosenRewards: detach(chosenRatio).mul(beta),
    rejectedRewards: detach(rejectedRatio).mul(beta),
  };
}
