/**
 * The unigram baseline: the loss of a model that ignores context and always predicts the
 * training split's token frequencies. A language model has learned something about context
 * only once its validation loss is clearly below this number.
 */

/**
 * Entropy of the token distribution of `tokens`, in nats: `−Σ p(t) ln p(t)`. This is the
 * cross-entropy of the best context-free predictor on the same tokens.
 */
export function unigramEntropy(tokens: ArrayLike<number>): number {
  if (tokens.length === 0) throw new RangeError('unigramEntropy: no tokens');
  const counts = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) counts.set(tokens[i], (counts.get(tokens[i]) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / tokens.length;
    entropy -= p * Math.log(p);
  }
  return entropy;
}
