/**
 * `config.json` in Hugging Face format, both ways: `GPT2LMHeadModel` (model_type `gpt2`) and
 * `LlamaForCausalLM` (model_type `llama`). Our own config is also stored under `kiln_config`, so
 * variants that Hugging Face cannot express (a GPT-2 with grouped-query attention or QK-norm, …)
 * round-trip exactly; Hugging Face ignores the extra key.
 */
import { ConfigError, type GPTConfig, type ResolvedGPTConfig, resolveConfig } from './config.js';

/**
 * A problem with a model directory or its files (missing file, bad config.json, missing or
 * mis-shaped tensors); the message says what and where.
 */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/**
 * A Hugging Face `config.json` dialect added by another package (e.g. `@kiln/moe`'s Mixtral),
 * registered with {@link registerHFConfigFormat}: how to read its `model_type`, and optionally how
 * to write a config it can express.
 */
export interface HFConfigFormat {
  /** The `model_type` it reads (`mixtral`). */
  modelType: string;
  /** Our config from a `config.json` of that type (without `kiln_config`); throw a `ConfigError` for what Kiln cannot express. */
  fromHF(json: Record<string, unknown>): GPTConfig;
  /**
   * The Hugging Face keys for `config` (the common keys and `kiln_config` are added), or
   * undefined when this format does not describe it; the first format that answers wins over
   * the built-in GPT-2/Llama keys.
   */
  toHF?(config: ResolvedGPTConfig): Record<string, unknown> | undefined;
}

const formats = new Map<string, HFConfigFormat>();

/**
 * Adds a `config.json` dialect (a `model_type`) that {@link fromHFConfig} reads and
 * {@link toHFConfig} may write. Registering the same object again is a no-op; another format
 * under a taken `model_type` (or a built-in one: gpt2, llama) is an error.
 */
export function registerHFConfigFormat(format: HFConfigFormat): void {
  const { modelType } = format;
  if (modelType === 'gpt2' || modelType === 'llama') {
    throw new Error(`registerHFConfigFormat: model_type '${modelType}' is built in`);
  }
  const existing = formats.get(modelType);
  if (existing === format) return;
  if (existing) {
    throw new Error(
      `registerHFConfigFormat: model_type '${modelType}' is already registered with another format`,
    );
  }
  formats.set(modelType, format);
}

/** The `config.json` object for a model config; `dtype` is recorded as `torch_dtype`. */
export function toHFConfig(
  c: ResolvedGPTConfig,
  dtype: 'float32' | 'float16' = 'float32',
): Record<string, unknown> {
  const common = {
    initializer_range: 0.02,
    tie_word_embeddings: c.tieEmbeddings,
    torch_dtype: dtype,
    kiln_config: { ...c },
  };
  for (const format of formats.values()) {
    const keys = format.toHF?.(c);
    if (keys) return { ...keys, ...common };
  }
  if (c.family === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: c.vocabSize,
      n_positions: c.contextLength,
      n_ctx: c.contextLength,
      n_embd: c.dModel,
      n_layer: c.nLayers,
      n_head: c.nHeads,
      n_inner: c.dFF,
      activation_function: 'gelu_new',
      layer_norm_epsilon: c.normEps,
      resid_pdrop: c.dropout,
      embd_pdrop: c.dropout,
      attn_pdrop: c.dropout,
      ...common,
    };
  }
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength,
    hidden_size: c.dModel,
    intermediate_size: c.dFF,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.dModel / c.nHeads,
    hidden_act: 'silu',
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    attention_bias: c.bias,
    mlp_bias: c.bias,
    attention_dropout: c.dropout,
    ...common,
  };
}

/**
 * Our config from a `config.json` object: `kiln_config` when present, else the Hugging Face
 * keys of a GPT-2 or Llama config. Options Kiln does not implement (another activation, RoPE
 * scaling, a head dimension other than hidden_size / heads, …) are errors, never ignored.
 */
export function fromHFConfig(json: Record<string, unknown>, source = 'config.json'): ResolvedGPTConfig {
  const fail = (message: string): never => {
    throw new ModelFileError(`${source}: ${message}`);
  };
  try {
    if (json.kiln_config !== undefined) return resolveConfig(json.kiln_config as GPTConfig);
    const type = json.model_type ?? (Array.isArray(json.architectures) ? json.architectures[0] : undefined);
    if (type === 'gpt2' || type === 'GPT2LMHeadModel') return fromGpt2(json, fail);
    if (type === 'llama' || type === 'LlamaForCausalLM') return fromLlama(json, fail);
    const format = typeof type === 'string' ? formats.get(type) : undefined;
    if (format) return resolveConfig(format.fromHF(json));
    const added = [...formats.keys()].map((t) => `, '${t}'`).join('');
    return fail(
      `model_type ${JSON.stringify(type)} is not supported; Kiln loads 'gpt2' (GPT2LMHeadModel) and 'llama' (LlamaForCausalLM)${added}${added ? '' : " (a package such as @kiln/moe adds more when imported: 'mixtral')"}`,
    );
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

function fromGpt2(j: Record<string, any>, fail: (m: string) => never): ResolvedGPTConfig {
  const activation = j.activation_function ?? 'gelu_new';
  if (activation !== 'gelu_new' && activation !== 'gelu_pytorch_tanh') {
    fail(
      `activation_function '${activation}' is not supported; Kiln's GPT-2 uses the tanh approximation ('gelu_new')`,
    );
  }
  if (j.scale_attn_weights === false || j.scale_attn_by_inverse_layer_idx === true) {
    fail(
      'only the standard 1/sqrt(head_dim) attention scaling is supported (scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false)',
    );
  }
  return resolveConfig({
    family: 'gpt2',
    vocabSize: j.vocab_size ?? 50257,
    contextLength: j.n_positions ?? j.n_ctx ?? 1024,
    nLayers: j.n_layer ?? 12,
    nHeads: j.n_head ?? 12,
    dModel: j.n_embd ?? 768,
    dFF: j.n_inner ?? undefined,
    dropout: j.resid_pdrop ?? 0.1,
    normEps: j.layer_norm_epsilon ?? 1e-5,
    tieEmbeddings: j.tie_word_embeddings ?? true,
    bias: true,
  });
}

function fromLlama(j: Record<string, any>, fail: (m: string) => never): ResolvedGPTConfig {
  const hidden = j.hidden_size ?? 4096;
  const heads = j.num_attention_heads ?? 32;
  if ((j.hidden_act ?? 'silu') !== 'silu')
    fail(`hidden_act '${j.hidden_act}' is not supported; Llama uses 'silu' (SwiGLU)`);
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) {
    fail(
      `rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported; Kiln implements plain RoPE (rope_scaling: null)`,
    );
  }
  if (j.head_dim !== undefined && j.head_dim !== null && j.head_dim !== hidden / heads) {
    fail(
      `head_dim ${j.head_dim} differs from hidden_size / num_attention_heads = ${hidden / heads}; Kiln requires them to be equal`,
    );
  }
  const attentionBias = j.attention_bias ?? false;
  const mlpBias = j.mlp_bias ?? false;
  if (attentionBias !== mlpBias) {
    fail(
      `attention_bias (${attentionBias}) and mlp_bias (${mlpBias}) differ; Kiln has one bias switch for both`,
    );
  }
  return resolveConfig({
    family: 'llama',
    vocabSize: j.vocab_size ?? 32000,
    contextLength: j.max_position_embeddings ?? 2048,
    nLayers: j.num_hidden_layers ?? 32,
    nHeads: heads,
    nKvHeads: j.num_key_value_heads ?? heads,
    dModel: hidden,
    dFF: j.intermediate_size ?? undefined,
    dropout: j.attention_dropout ?? 0,
    ropeTheta: j.rope_theta ?? 10000,
    normEps: j.rms_norm_eps ?? 1e-6,
    tieEmbeddings: j.tie_word_embeddings ?? false,
    bias: attentionBias,
  });
}
