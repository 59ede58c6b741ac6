// The reward model's loss: the Bradley–Terry model of pairwise preferences, P(chosen ≻ rejected)
// = σ(r_c − r_r), fitted by maximum likelihood (InstructGPT, Ouyang et al. 2022, eq. 1).
import { noGrad } from '@kiln/autograd';
import { Tensor } from '@kiln/tensor';
import { requireFloat, requireNumber, requireSameShape } from './checks.js';
import { logSigmoid } from './log-sigmoid.js';

/** Options of {@link bradleyTerryLoss}. */
export interface BradleyTerryOptions {
  /**
   * A margin m the chosen reward must beat the rejected one by (Llama 2's margin loss): a
   * number, or a float tensor `[N]` with one margin per pair (e.g. from a preference strength).
   * Default 0.
   */
  margin?: number | Tensor;
  /**
   * Weight c of the centring term `c · mean((r_c + r_r)²)` that keeps rewards near zero (TRL's
   * `center_rewards_coefficient`, from Eisenstein et al. 2023). Default 0.
   */
  centerCoefficient?: number;
}

/** What {@link bradleyTerryLoss} returns: the loss and, without gradients, how well pairs are ranked. */
export interface BradleyTerryOutput {
  /** 0-d: `mean(−log σ(r_c − r_r − m)) + c · mean((r_c + r_r)²)`. */
  loss: Tensor;
  /**
   * 0-d: the fraction of pairs ranked like the labels, a tie (`r_c = r_r`) counting ½ (no
   * gradient): a model that cannot tell the answers apart scores chance, 0.5, not 0.
   */
  accuracy: Tensor;
  /**
   * 0-d: the fraction of pairs with `r_c = r_r` exactly (no gradient). Many ties mean the
   * score is read where the answers are not seen (see docs/rlhf.md, "The reward model's
   * ties"); TRL leaves ties out of its accuracy and warns about them.
   */
  ties: Tensor;
  /** 0-d: `mean(r_c − r_r)` (no gradient). */
  margin: Tensor;
}

/**
 * The Bradley–Terry loss of rewards `[N]` (or any equal shapes) of the chosen and rejected
 * answers of N pairs:
 *
 * ```text
 * loss = mean_i −log σ(r_c,i − r_r,i − m_i)  +  c · mean_i (r_c,i + r_r,i)²
 * ```
 */
export function bradleyTerryLoss(
  chosenRewards: Tensor,
  rejectedRewards: Tensor,
  options: BradleyTerryOptions = {},
): BradleyTerryOutput {
  const who = 'bradleyTerryLoss';
  requireFloat(who, 'chosenRewards', chosenRewards);
  requireFloat(who, 'rejectedRewards', rejectedRewards);
  requireSameShape(who, { chosenRewards, rejectedRewards });
  const { margin = 0, centerCoefficient = 0 } = options;
  requireNumber(who, 'centerCoefficient', centerCoefficient, (v) => v >= 0, 'a number ≥ 0');
  if (margin instanceof Tensor) {
    requireFloat(who, 'margin', margin);
    requireSameShape(who, { chosenRewards, margin });
  } else requireNumber(who, 'margin', margin, () => true, 'a finite number or a tensor');
  const diff = chosenRewards.sub(rejectedRewards);
  let loss = logSigmoid(diff.sub(margin)).mean().neg();
  if (centerCoefficient > 0) {
    loss = loss.add(chosenRewards.add(rejectedRewards).square().mean().mul(centerCoefficient));
  }
  const [accuracy, ties, meanMargin] = noGrad(() => {
    const tied = diff.eq(0).cast('float32');
    return [diff.gt(0).cast('float32').add(tied.mul(0.5)).mean(), tied.mean(), diff.mean()];
  });
  return { loss, accuracy, ties, margin: meanMargin };
}
