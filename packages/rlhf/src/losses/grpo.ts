// GRPO (Shao et al. 2024, DeepSeekMath): advantages relative to a group of completions of the
// same prompt, instead of a value model; RLOO's leave-one-out baseline (Ahmadian et al. 2024);
// and the clipped per-token loss with the normalisations of GRPO, Dr. GRPO and DAPO.
import { noGrad } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { floatMask, requireFloat, requireNumber, requireSameShape } from './checks.js';
import { type KLEstimator, klPenalty } from './kl.js';
import { maskedMean } from './masked.js';

/** How {@link grpoAdvantages} scales the centred rewards. */
export type AdvantageScale = 'group' | 'batch' | 'none';

/** Options of {@link grpoAdvantages}. */
export interface GRPOAdvantageOptions {
  /**
   * Divide by the group's standard deviation (`group`, GRPO and TRL's default), by the whole
   * batch's (`batch`), or not at all (`none`, Dr. GRPO: the division favours prompts that are
   * too easy or too hard). Standard deviations are unbiased (n − 1), plus 1e-4.
   */
  scale?: AdvantageScale;
}

function checkGroups(who: string, rewards: Tensor, groupSize: number): number {
  requireFloat(who, 'rewards', rewards);
  if (rewards.ndim !== 1)
    throw new RangeError(`${who}: rewards must be 1-d [prompts × groupSize], got [${rewards.shape}]`);
  requireNumber(who, 'groupSize', groupSize, (v) => Number.isInteger(v) && v >= 2, 'an integer ≥ 2');
  if (rewards.shape[0] % groupSize !== 0) {
    throw new RangeError(
      `${who}: ${rewards.shape[0]} rewards do not split into groups of ${groupSize}; order them prompt by prompt, groupSize completions each`,
    );
  }
  return rewards.shape[0] / groupSize;
}

/**
 * Group-relative advantages of rewards `[P·G]` ordered prompt by prompt (G = `groupSize`
 * completions each): `A_i = (r_i − mean_g) / (std + 1e-4)` with the std of the group, of the
 * batch, or 1 (see {@link GRPOAdvantageOptions}). A group whose rewards are all equal gets zero
 * advantages: it carries no signal. No gradient.
 */
export function grpoAdvantages(
  rewards: Tensor,
  groupSize: number,
  options: GRPOAdvantageOptions = {},
): Tensor {
  const who = 'grpoAdvantages';
  const groups = checkGroups(who, rewards, groupSize);
  const { scale = 'group' } = options;
  if (!['group', 'batch', 'none'].includes(scale)) {
    throw new RangeError(`${who}: scale must be 'group', 'batch' or 'none', got ${String(scale)}`);
  }
  return noGrad(() => {
    const grouped = rewards.reshape([groups, groupSize]);
    const centred = grouped.sub(grouped.mean(1, true));
    if (scale === 'none') return centred.reshape([groups * groupSize]);
    const std =
      scale === 'group'
        ? grouped.var(1, { correction: 1, keepDim: true }).sqrt()
        : rewards.var(undefined, { correction: 1 }).sqrt();
    return centred.div(std.add(1e-4)).reshape([groups * groupSize]);
  });
}

/**
 * RLOO's advantages: each reward minus the mean of the other G − 1 rewards of its group,
 * `A_i = r_i − (Σ_g r − r_i)/(G − 1) = G/(G − 1) · (r_i − mean_g)`. No gradient.
 */
export function rlooAdvantages(rewards: Tensor, groupSize: number): Tensor {
  const groups = checkGroups('rlooAdvantages', rewards, groupSize);
  return noGrad(() => {
    const grouped = rewards.reshape([groups, groupSize]);
    const others = grouped
      .sum(1, true)
      .sub(grouped)
      .div(groupSize - 1);
    return grouped.sub(others).reshape([groups * groupSize]);
  });
}

/** How {@link grpoLoss} averages the per-token losses. */
export type GRPOLossType = 'grpo' | 'dr_grpo' | 'dapo';

/** Inputs of {@link grpoLoss}: `[N, T]` per-token tensors and `[N]` advantages. */
export interface GRPOLossInputs {
  /** log π_θ of the completion tokens (differentiable). */
  logps: Tensor;
  /** log π_old at sampling time (constant; the detached `logps` when each batch is used once). */
  oldLogps: Tensor;
  /** log π_ref (constant), for the KL term and its log; absent: no KL. */
  refLogps?: Tensor;
  /** One advantage per completion `[N]`. */
  advantages: Tensor;
  /** 1 on completion tokens. */
  mask: Tensor;
}

/** Options of {@link grpoLoss}. */
export interface GRPOLossOptions {
  /** ε_low of the ratio clip (default 0.2). */
  epsilon?: number;
  /** ε_high (default ε_low; DAPO's clip-higher uses 0.28). */
  epsilonHigh?: number;
  /** β, the weight of the k3 KL penalty (default 0, as TRL; DeepSeekMath used 0.04). */
  beta?: number;
  /** The normalisation (default `grpo`); see {@link grpoLoss}. */
  lossType?: GRPOLossType;
  /** Dr. GRPO's constant: the most completion tokens (default T, the batch's width). */
  maxCompletionLength?: number;
  /** The KL estimator that is added and logged (default `k3`). */
  klEstimator?: KLEstimator;
}

/** What {@link grpoLoss} returns. */
export interface GRPOLossOutput {
  /** 0-d loss: the average (by `lossType`) of the per-token losses. */
  loss: Tensor;
  /**
   * What `loss` averages over, so that micro-batches combine exactly (trainStep's weighted
   * mean): completions (`grpo`), completions × maxCompletionLength (`dr_grpo`), tokens (`dapo`,
   * a 0-d tensor counted on the device).
   */
  weight: number | Tensor;
  /** Mean KL estimate over completion tokens (no gradient); 0 without `refLogps`. */
  kl: Tensor;
  /** Fraction of completion tokens whose ratio was clipped (no gradient). */
  clipFraction: Tensor;
}

/**
 * The GRPO loss. Per completion token, with `r = exp(logp − oldLogp)`:
 *
 * ```text
 * ℓ_t = −min(r A, clip(r, 1 − ε_low, 1 + ε_high) A) + β k3_t
 * grpo:    mean over completions of (mean over its tokens of ℓ_t)     (DeepSeekMath eq. 3)
 * dr_grpo: Σ_t ℓ_t / (N · maxCompletionLength)                          (Liu et al. 2025)
 * dapo:    Σ_t ℓ_t / Σ_t 1, over every token of the batch              (Yu et al. 2025)
 * ```
 *
 * `grpo` weighs a long completion's tokens less than a short one's, which biases towards long
 * wrong answers; the other two do not.
 */
export function grpoLoss(inputs: GRPOLossInputs, options: GRPOLossOptions = {}): GRPOLossOutput {
  const who = 'grpoLoss';
  const { logps, oldLogps, refLogps, advantages, mask } = inputs;
  requireFloat(who, 'logps', logps);
  requireFloat(who, 'oldLogps', oldLogps);
  requireFloat(who, 'advantages', advantages);
  requireSameShape(who, { logps, oldLogps, mask, refLogps });
  if (logps.ndim !== 2)
    throw new RangeError(`${who}: logps must be [completions, tokens], got [${logps.shape}]`);
  const [N, T] = logps.shape;
  if (advantages.shape.join() !== `${N}`) {
    throw new RangeError(`${who}: advantages must be [${N}] (one per completion), got [${advantages.shape}]`);
  }
  const {
    epsilon = 0.2,
    epsilonHigh = epsilon,
    beta = 0,
    lossType = 'grpo',
    maxCompletionLength = T,
    klEstimator = 'k3',
  } = options;
  requireNumber(who, 'epsilon', epsilon, (v) => v > 0 && v < 1, 'in (0, 1)');
  requireNumber(who, 'epsilonHigh', epsilonHigh, (v) => v > 0, 'a number > 0');
  requireNumber(who, 'beta', beta, (v) => v >= 0, 'a number ≥ 0');
  requireNumber(who, 'maxCompletionLength', maxCompletionLength, (v) => v >= 1, 'a number ≥ 1');
  const m = floatMask(mask);
  const A = advantages.reshape([N, 1]);
  const ratio = logps.sub(oldLogps).exp();
  const unclipped = ratio.mul(A);
  const clipped = ratio.clamp(1 - epsilon, 1 + epsilonHigh).mul(A);
  let perToken = unclipped.minimum(clipped).neg();
  const klPerToken = refLogps ? klPenalty(logps, refLogps, klEstimator) : undefined;
  if (klPerToken && beta > 0) perToken = perToken.add(klPerToken.mul(beta));
  let loss: Tensor;
  let weight: number | Tensor;
  const tokens = m.sum();
  switch (lossType) {
    case 'grpo':
      // a completion without tokens (all masked) counts with a zero loss, never a NaN
      loss = perToken.mul(m).sum(1).div(m.sum(1).maximum(1)).mean();
      weight = N;
      break;
    case 'dr_grpo':
      loss = perToken
        .mul(m)
        .sum()
        .div(N * maxCompletionLength);
      weight = N * maxCompletionLength;
      break;
    case 'dapo':
      loss = perToken.mul(m).sum().div(tokens.maximum(1));
      weight = noGrad(() => tokens.alias());
      break;
    default:
      throw new RangeError(`${who}: lossType must be 'grpo', 'dr_grpo' or 'dapo', got ${String(lossType)}`);
  }
  const stats = noGrad(() => ({
    kl: klPerToken ? maskedMean(klPerToken, m) : tokens.mul(0),
    clipFraction: maskedMean(clipped.lt(unclipped).cast('float32'), m),
  }));
  return { loss, weight, ...stats };
}
