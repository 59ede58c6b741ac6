/**
 * Load balancing, three ways:
 *
 * - Switch Transformer's auxiliary loss `α · E · Σᵢ fᵢ · Pᵢ`, computed over all the tokens of the
 *   forward pass for one layer (not per sequence, and not over the layers' logits concatenated):
 *   fᵢ is the fraction of routed pairs that chose expert i (a count: no gradient), Pᵢ the mean
 *   probability the router gave i (the gradient path). It is α at perfect balance and grows to
 *   α·E when one expert takes everything. A model sums it over its layers (each layer reports its
 *   own, and the objective adds every auxiliary loss).
 * - ST-MoE's router z-loss `β · mean(logsumexp(logits)²)`, which keeps router logits small.
 * - DeepSeek-V3's bias balancing: a per-expert bias added to the scores for selection only,
 *   moved by γ·sign(mean load − load) after each optimizer step ({@link updateSelectionBias}).
 */
import { noGrad } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';

/**
 * The Switch auxiliary loss: `coefficient · E · Σᵢ fᵢ · Pᵢ` (0-d). `scores [N, E]` are the router
 * probabilities (sigmoid affinities are normalised per token first, as DeepSeek-V3 does);
 * `counts [E]` the pairs per expert over real tokens; `mask [N]` (1 = real token) or null.
 */
export function switchAuxLoss(
  scores: Tensor,
  counts: Tensor,
  mask: Tensor | null,
  topK: number,
  coefficient: number,
  normalizeScores: boolean,
): Tensor {
  const [N, E] = scores.shape;
  const probs = normalizeScores ? scores.div(scores.sum(-1, true)) : scores;
  const real = mask ? mask.sum() : N;
  const meanProb = (mask ? probs.mul(mask.unsqueeze(1)) : probs).sum(0).div(real);
  const fraction = noGrad(() => counts.div(typeof real === 'number' ? real * topK : real.mul(topK)));
  return meanProb
    .mul(fraction)
    .sum()
    .mul(coefficient * E);
}

/** ST-MoE's router z-loss: `coefficient · mean over real tokens of logsumexp(logits)²` (0-d). */
export function routerZLoss(logits: Tensor, mask: Tensor | null, coefficient: number): Tensor {
  const z = logits.logsumexp(-1).square();
  const mean = mask ? z.mul(mask).sum().div(mask.sum()) : z.mean();
  return mean.mul(coefficient);
}

/**
 * One DeepSeek-V3 bias step, in place: `bias += rate · sign(mean(load) − load)`, so overloaded
 * experts are chosen less and underloaded ones more. Nothing is read back.
 */
export function updateSelectionBias(bias: Tensor, load: Tensor, rate: number): void {
  noGrad(() => {
    const error = load.mean().sub(load);
    bias.assign(bias.add(error.sign().mul(rate)));
  });
}
