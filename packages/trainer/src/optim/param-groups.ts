/**
 * The usual weight-decay split for transformers: decay the weight matrices, not the biases, the
 * norm gains or (by default) the embedding tables. Decay pulls weights towards zero; on a gain
 * or a bias that only fights the normalisation, and on embeddings it shrinks rare tokens' rows
 * that seldom get a gradient to push back.
 */
import type { Parameter } from '@kiln/autograd';
import type { NamedParameter, ParamGroup } from './named-params.js';

/** Options of {@link defaultParamGroups}. */
export interface DefaultParamGroupsOptions {
  /** Weight decay of the decayed group (e.g. 0.1). */
  weightDecay: number;
  /**
   * Decay embedding tables too (default false). nanoGPT and `scripts/reference/gpt.py` decay
   * every matrix, embeddings included: set this to compare with them.
   */
  decayEmbeddings?: boolean;
}

/** Names of embedding tables: Kiln's `tokenEmbedding`/`positionEmbedding`, HF's `wte`/`wpe`/`embed_tokens`. */
const EMBEDDING_NAME = /embed|(^|\.)(wte|wpe)(\.|$)/i;

/** True for names that look like an embedding table (`tokenEmbedding.weight`, `transformer.wte.weight`, …). */
export function isEmbeddingName(name: string): boolean {
  return EMBEDDING_NAME.test(name);
}

/**
 * Splits a model's trainable parameters into two groups: `weightDecay` for parameters with two
 * or more dimensions that are not embedding tables, and 0 for the rest (biases, norm gains,
 * embeddings). Frozen parameters (`requiresGrad: false`) are left out. A tied embedding/head
 * matrix is listed once under its first name (the embedding's), so it is not decayed unless
 * `decayEmbeddings` is set.
 *
 * ```ts
 * const optimizer = new AdamW(defaultParamGroups(model, { weightDecay: 0.1 }), { lr: 1e-3 });
 * ```
 */
export function defaultParamGroups(
  model: { namedParameters(): [string, Parameter][] } | Iterable<NamedParameter>,
  options: DefaultParamGroupsOptions,
): ParamGroup[] {
  const named = 'namedParameters' in model ? model.namedParameters() : [...model];
  const decay: NamedParameter[] = [];
  const noDecay: NamedParameter[] = [];
  for (const [name, p] of named) {
    if (!p.requiresGrad) continue;
    const decayed = p.ndim >= 2 && (options.decayEmbeddings === true || !isEmbeddingName(name));
    (decayed ? decay : noDecay).push([name, p]);
  }
  const groups: ParamGroup[] = [];
  if (decay.length > 0) groups.push({ params: decay, weightDecay: options.weightDecay });
  if (noDecay.length > 0) groups.push({ params: noDecay, weightDecay: 0 });
  return groups;
}
