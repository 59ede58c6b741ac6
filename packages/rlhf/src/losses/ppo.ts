// PPO's clipped surrogate objectives (Schulman et al. 2017) over the completion tokens of a
// minibatch, with the diagnostics every PPO run logs.
import { noGrad } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { floatMask, requireFloat, requireNumber, requireSameShape } from './checks.js';
import { maskedMean } from './masked.js';

/** Inputs of {@link ppoLosses}: `[B, T]` tensors over the same tokens. */
export interface PPOLossInputs {
  /** log π_θ of the sampled tokens (differentiable). */
  logps: Tensor;
  /** log π_old of the same tokens, when they were sampled (constant). */
  oldLogps: Tensor;
  /** Advantages (constant, usually whitened). */
  advantages: Tensor;
  /** 1 on the tokens that count (the completion), 0 elsewhere. */
  mask: Tensor;
  /** The value model's current values (differentiable); with `oldValues` and `returns` the value loss is computed. */
  values?: Tensor;
  /** The values at sampling time (constant). */
  oldValues?: Tensor;
  /** The value targets (GAE's returns, constant). */
  returns?: Tensor;
  /** Per-token entropy of the policy (for logging; no gradient is taken through it here). */
  entropy?: Tensor;
}

/** Options of {@link ppoLosses}. */
export interface PPOLossOptions {
  /** ε of the policy ratio's clip (default 0.2, as TRL and InstructGPT). */
  clipRange?: number;
  /** ε of the value clip (default 0.2, TRL's `cliprange_value`). */
  clipRangeValue?: number;
}

/** What {@link ppoLosses} returns; all 0-d. */
export interface PPOLossOutput {
  /** `mean_t max(−A r, −A clip(r, 1−ε, 1+ε))`, `r = exp(logp − oldLogp)`. */
  policyLoss: Tensor;
  /** `½ mean_t max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²)`, when values were given. */
  valueLoss?: Tensor;
  /** Fraction of tokens whose clipped term was the larger (no gradient). */
  clipFraction: Tensor;
  /** Fraction of tokens whose value was clipped (no gradient), when values were given. */
  valueClipFraction?: Tensor;
  /** `½ mean_t (logp − oldLogp)²`, the low-variance estimate of KL(π_old ‖ π) (no gradient). */
  approxKL: Tensor;
  /** Mean entropy over the tokens, when given (no gradient). */
  entropy?: Tensor;
}

/**
 * The clipped policy loss and (with values) the clipped value loss of PPO, as masked means
 * over the tokens; see {@link PPOLossOutput} for the formulas.
 */
export function ppoLosses(inputs: PPOLossInputs, options: PPOLossOptions = {}): PPOLossOutput {
  const who = 'ppoLosses';
  const { logps, oldLogps, advantages, mask, values, oldValues, returns, entropy } = inputs;
  for (const [name, t] of Object.entries({ logps, oldLogps, advantages })) requireFloat(who, name, t);
  requireSameShape(who, { logps, oldLogps, advantages, mask, values, oldValues, returns, entropy });
  const { clipRange = 0.2, clipRangeValue = 0.2 } = options;
  requireNumber(who, 'clipRange', clipRange, (v) => v > 0, 'a number > 0');
  requireNumber(who, 'clipRangeValue', clipRangeValue, (v) => v > 0, 'a number > 0');
  const m = floatMask(mask);
  const logRatio = logps.sub(oldLogps);
  const ratio = logRatio.exp();
  const unclipped = advantages.neg().mul(ratio);
  const clipped = advantages.neg().mul(ratio.clamp(1 - clipRange, 1 + clipRange));
  const policyLoss = maskedMean(unclipped.maximum(clipped), m);
  const out: PPOLossOutput = {
    policyLoss,
    ...noGrad(() => ({
      clipFraction: maskedMean(clipped.gt(unclipped).cast('float32'), m),
      approxKL: maskedMean(logRatio.square(), m).mul(0.5),
      ...(entropy ? { entropy: maskedMean(entropy, m) } : {}),
    })),
  };
  if (values || oldValues || returns) {
    if (!values || !oldValues || !returns) {
      throw new TypeError(`${who}: the value loss needs values, oldValues and returns together`);
    }
    const v = ppoValueLoss(values, oldValues, returns, m, clipRangeValue);
    out.valueLoss = v.valueLoss;
    out.valueClipFraction = v.valueClipFraction;
  }
  return out;
}

/**
 * PPO's clipped value loss alone (for a separate value model), over the masked tokens:
 * `½ mean_t max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²)`, and the fraction of tokens
 * where the clipped term was the larger (no gradient).
 */
export function ppoValueLoss(
  values: Tensor,
  oldValues: Tensor,
  returns: Tensor,
  mask: Tensor,
  clipRangeValue = 0.2,
): { valueLoss: Tensor; valueClipFraction: Tensor } {
  const who = 'ppoValueLoss';
  for (const [name, t] of Object.entries({ values, oldValues, returns })) requireFloat(who, name, t);
  requireSameShape(who, { values, oldValues, returns, mask });
  requireNumber(who, 'clipRangeValue', clipRangeValue, (v) => v > 0, 'a number > 0');
  const m = floatMask(mask);
  const valueClipped = oldValues.add(values.sub(oldValues).clamp(-clipRangeValue, clipRangeValue));
  const lossUnclipped = values.sub(returns).square();
  const lossClipped = valueClipped.sub(returns).square();
  return {
    valueLoss: maskedMean(lossUnclipped.maximum(lossClipped), m).mul(0.5),
    valueClipFraction: noGrad(() => maskedMean(lossClipped.gt(lossUnclipped).cast('float32'), m)),
  };
}
