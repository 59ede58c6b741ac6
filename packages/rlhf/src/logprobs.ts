// Per-token log-probabilities of given tokens under a causal language model: the quantity every
// preference and policy-gradient loss is written in.
import { concat, crossEntropy, ShapeError, type Tensor, zeros } from '@kiln/tensor';

/** A model that `sequenceLogprobs` can score: `GPT`, or anything with its forward. */
export interface LogprobModel {
  forward(ids: Tensor, options: { padding?: Tensor }): { logits: Tensor };
}

/** Options of {@link sequenceLogprobs}. */
export interface SequenceLogprobOptions {
  /** bool `[B, T]`, true at padding (left or right), hidden from attention. */
  padding?: Tensor;
  /** Divide the logits by this before the softmax (the sampling temperature; default 1). */
  temperature?: number;
}

function checkMask(who: string, ids: Tensor, mask: Tensor): void {
  if (ids.dtype !== 'int32' || ids.ndim !== 2) {
    throw new ShapeError(`${who}: ids must be int32 [batch, tokens], got ${ids.dtype} [${ids.shape}]`);
  }
  if (mask.shape.join() !== ids.shape.join()) {
    throw new ShapeError(
      `${who}: mask has shape [${mask.shape}] but ids [${ids.shape}]; give one flag per token`,
    );
  }
}

/**
 * `log p(ids[b, t] | ids[b, < t])` from `logits [B, T, V]` (the model's output for `ids`),
 * `[B, T]`, at the tokens where `mask` is nonzero and 0 elsewhere (and always at t = 0, which
 * has no context). Uses the fused cross-entropy, so log-softmax is never materialised.
 */
export function tokenLogprobs(logits: Tensor, ids: Tensor, mask: Tensor): Tensor {
  checkMask('tokenLogprobs', ids, mask);
  const [B, T] = ids.shape;
  if (logits.ndim !== 3 || logits.shape[0] !== B || logits.shape[1] !== T) {
    throw new ShapeError(`tokenLogprobs: logits must be [${B}, ${T}, vocab] like ids, got [${logits.shape}]`);
  }
  if (T < 2) return zeros([B, T], { backend: logits.backend, dtype: logits.dtype });
  const selected = mask.slice(1, 1, T).ne(0).cast('int32');
  // targets: the next token where it counts, −100 (ignored: an exact 0) elsewhere
  const targets = ids.slice(1, 1, T).add(100).mul(selected).sub(100);
  const nll = crossEntropy(logits.slice(1, 0, T - 1), targets, { reduction: 'none' });
  return concat([zeros([B, 1], { backend: logits.backend, dtype: nll.dtype }), nll.neg()], 1);
}

/**
 * Per-token log-probabilities of the completion tokens of `ids [B, T]` under `model`: one
 * forward pass, then {@link tokenLogprobs} with `mask` (nonzero on the completion tokens).
 * Sum over the last axis for a sequence's log-probability. Differentiable in the model.
 *
 * ```ts
 * const logps = sequenceLogprobs(policy, ids, completionMask, { padding }); // [B, T]
 * const perSequence = logps.sum(-1);                                          // [B]
 * ```
 */
export function sequenceLogprobs(
  model: LogprobModel,
  ids: Tensor,
  mask: Tensor,
  options: SequenceLogprobOptions = {},
): Tensor {
  checkMask('sequenceLogprobs', ids, mask);
  const { padding, temperature = 1 } = options;
  if (!(temperature > 0 && Number.isFinite(temperature))) {
    throw new RangeError(`sequenceLogprobs: temperature must be a number > 0, got ${temperature}`);
  }
  let { logits } = model.forward(ids, padding ? { padding } : {});
  if (temperature !== 1) logits = logits.div(temperature);
  return tokenLogprobs(logits, ids, mask);
}

/** The entropy of each position's next-token distribution, `−Σ_v p log p`, from logits `[..., V]`. */
export function tokenEntropy(logits: Tensor): Tensor {
  const logp = logits.logSoftmax(-1);
  return logp.exp().mul(logp).sum(-1).neg();
}
