/**
 * Choosing the next token from logits: greedy, temperature, top-k and top-p (nucleus), all on
 * the device, so a generation step reads back one integer.
 */
import { multinomial, scope, type Tensor, topk, where } from '@kiln/tensor';

/** How to pick the next token. */
export interface SamplingOptions {
  /** Divides the logits; 0 picks the most likely token (greedy). Default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens. Default: all. */
  topK?: number;
  /** Sample only among the most likely tokens whose probabilities sum to at least p (nucleus). Default 1 (all). */
  topP?: number;
}

/** Checks sampling options against the vocabulary; throws naming the option and the valid range. */
export function checkSamplingOptions(options: SamplingOptions, vocabSize: number): void {
  const { temperature = 1, topK, topP = 1 } = options;
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RangeError(
      `sampling: temperature must be a finite number ≥ 0 (0 = greedy), got ${temperature}`,
    );
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1 || topK > vocabSize)) {
    throw new RangeError(
      `sampling: topK must be an integer in [1, ${vocabSize}] (the vocabulary size), got ${topK}; omit it to sample from every token`,
    );
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new RangeError(`sampling: topP must be in (0, 1], got ${topP}; 1 keeps every token`);
  }
}

/**
 * Picks one token per row of `logits [V]` or `[N, V]` → int32 `[]` or `[N]`. Order as in Hugging
 * Face: temperature, then top-k, then top-p over what is left; the most likely token always
 * stays in the support. Random draws use the seeded generator (`manualSeed`).
 */
export function sampleToken(logits: Tensor, options: SamplingOptions = {}): Tensor {
  const V = logits.shape[logits.ndim - 1];
  checkSamplingOptions(options, V);
  const { temperature = 1, topK, topP = 1 } = options;
  return scope(() => {
    const rows = logits.ndim === 1 ? logits.reshape([1, V]) : logits;
    let picked: Tensor;
    if (temperature === 0) {
      picked = rows.argmax(-1);
    } else {
      let values = rows.div(temperature);
      let indices: Tensor | null = null; // candidate k → token id, when candidates were selected
      const k = topK ?? (topP < 1 ? V : undefined);
      if (k !== undefined) [values, indices] = topk(values, k, { axis: -1 }); // sorted, most likely first
      if (topP < 1) {
        // Keep a candidate while the probability mass before it is below p: the smallest prefix
        // whose mass reaches p, and never less than the first candidate.
        const probs = values.softmax(-1);
        const massBefore = probs.cumsum(-1).sub(probs);
        values = where(massBefore.lt(topP), values, Number.NEGATIVE_INFINITY);
      }
      const choice = multinomial(values.softmax(-1), 1); // [N, 1]
      picked = (indices ? indices.gather(-1, choice) : choice).squeeze(-1);
    }
    return logits.ndim === 1 ? picked.reshape([]) : picked;
  });
}
