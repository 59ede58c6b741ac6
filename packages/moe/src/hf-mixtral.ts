/**
 * Mixtral's `config.json` (`MixtralForCausalLM`, model_type `mixtral`), both ways, registered
 * with `@kiln/transformer` on import so `loadModel` reads a Hugging Face Mixtral directory and
 * `saveModel` writes one that `transformers` loads. The tensor names are the MoE layer's own
 * (`MoE.hfBindings`: `block_sparse_moe.gate`, `block_sparse_moe.experts.{i}.w1/w2/w3`); the rest
 * of the model is Llama's.
 *
 * The balancing coefficient: Mixtral's `router_aux_loss_coef` multiplies a loss that counts the
 * k choices separately (it is k at perfect balance), Kiln's `auxLoss` one that is 1 there, so
 * `auxLoss = router_aux_loss_coef · num_experts_per_tok` gives the same term per layer. (Mixtral
 * computes it once over all layers' router logits concatenated; Kiln per layer, summed over the
 * layers, as Switch defines it — the two agree for one layer, see docs/moe.md.)
 */
import {
  ConfigError,
  type FeedForwardSpec,
  type GPTConfig,
  type ResolvedGPTConfig,
  registerHFConfigFormat,
} from '@kiln/transformer';
import { resolveMoEOptions } from './options.js';
import { MOE_KIND } from './register.js';

function fail(message: string): never {
  throw new ConfigError(message);
}

/** Our config from a Mixtral `config.json` (without `kiln_config`). */
export function fromMixtralConfig(j: Record<string, any>): GPTConfig {
  const hidden = j.hidden_size ?? 4096;
  const heads = j.num_attention_heads ?? 32;
  const context = j.max_position_embeddings ?? 4096 * 32;
  if ((j.hidden_act ?? 'silu') !== 'silu')
    fail(`hidden_act '${j.hidden_act}' is not supported; Mixtral's experts use 'silu' (SwiGLU)`);
  if (j.rope_scaling !== undefined && j.rope_scaling !== null)
    fail('rope_scaling is not supported; Kiln implements plain RoPE (rope_scaling: null)');
  if (j.sliding_window !== undefined && j.sliding_window !== null && j.sliding_window < context) {
    fail(
      `sliding_window ${j.sliding_window} is below max_position_embeddings ${context}; Kiln has no sliding-window attention: set sliding_window to null or max_position_embeddings to at most ${j.sliding_window}`,
    );
  }
  if (j.head_dim !== undefined && j.head_dim !== null && j.head_dim !== hidden / heads) {
    fail(
      `head_dim ${j.head_dim} differs from hidden_size / num_attention_heads = ${hidden / heads}; Kiln requires them to be equal`,
    );
  }
  const experts = j.num_local_experts ?? 8;
  const topK = j.num_experts_per_tok ?? 2;
  const nLayers = j.num_hidden_layers ?? 32;
  const moe: FeedForwardSpec = {
    kind: MOE_KIND,
    experts,
    topK,
    expertDFF: j.intermediate_size ?? 14336,
    normalizeTopK: true,
    balancing: { auxLoss: (j.router_aux_loss_coef ?? 0.001) * topK },
  };
  if (j.router_jitter_noise) moe.jitter = j.router_jitter_noise;
  return {
    family: 'llama',
    vocabSize: j.vocab_size ?? 32000,
    contextLength: context,
    nLayers,
    nHeads: heads,
    nKvHeads: j.num_key_value_heads ?? 8,
    dModel: hidden,
    dropout: j.attention_dropout ?? 0,
    ropeTheta: j.rope_theta ?? 1e6,
    normEps: j.rms_norm_eps ?? 1e-5,
    tieEmbeddings: j.tie_word_embeddings ?? false,
    bias: false,
    feedForward: moe,
  };
}

/**
 * The Mixtral keys for `config` when Mixtral can express it: a Llama whose every block is the
 * same dropless softmax MoE with SwiGLU experts, renormalised top-k, no shared experts, no
 * z-loss or bias balancing and no biases. Otherwise undefined (the model is written as a Llama
 * with Kiln's own config beside it).
 */
export function toMixtralConfig(c: ResolvedGPTConfig): Record<string, unknown> | undefined {
  if (c.family !== 'llama' || c.bias || c.qkNorm || !c.feedForward) return undefined;
  const specs = Array.isArray(c.feedForward) ? c.feedForward : [c.feedForward];
  const first = JSON.stringify(specs[0]);
  if (specs[0].kind !== MOE_KIND || specs.some((s) => JSON.stringify(s) !== first)) return undefined;
  const o = resolveMoEOptions(specs[0], 'feedForward', c.dFF);
  const b = o.balancing;
  if (
    o.activation !== 'swiglu' ||
    o.scoring !== 'softmax' ||
    !o.normalizeTopK ||
    o.routedScale !== 1 ||
    o.sharedExperts > 0 ||
    o.dispatch !== 'dropless' ||
    b.zLoss > 0 ||
    b.biasUpdateRate > 0
  ) {
    return undefined;
  }
  return {
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength,
    hidden_size: c.dModel,
    intermediate_size: o.expertDFF,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.dModel / c.nHeads,
    hidden_act: 'silu',
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    sliding_window: null,
    attention_dropout: c.dropout,
    num_local_experts: o.experts,
    num_experts_per_tok: o.topK,
    router_aux_loss_coef: b.auxLoss / o.topK,
    router_jitter_noise: o.jitter,
    output_router_logits: b.auxLoss > 0,
  };
}

registerHFConfigFormat({ modelType: 'mixtral', fromHF: fromMixtralConfig, toHF: toMixtralConfig });
