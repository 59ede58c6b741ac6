/**
 * @kiln/transformer: transformer language models for Kiln. Layers, the `GPT` model (GPT-2 and
 * Llama families from one config), KV-cache generation and sampling, and the Hugging Face
 * config and tensor-name mapping. This entry is browser-safe; reading and writing model
 * directories (safetensors + config.json) is in `@kiln/transformer/node`.
 *
 * ```ts
 * import { init, manualSeed, tensor } from '@kiln/tensor';
 * import { GPT } from '@kiln/transformer';
 * import { loadModel, saveModel } from '@kiln/transformer/node';
 *
 * await init();
 * manualSeed(0);
 * const model = new GPT(GPT.config('gpt2-tiny'));
 * const ids = tensor([[1, 2, 3]], { dtype: 'int32' });
 * const targets = tensor([[2, 3, 4]], { dtype: 'int32' });
 * const { logits, loss } = model.forward(ids, targets);
 * for await (const id of model.generate([1, 2, 3], { maxTokens: 8, seed: 1 })) console.log(id);
 * await saveModel(model, 'out/model');
 * const again = await loadModel('out/model');
 * ```
 *
 * LoRA fine-tuning: `applyLoRA(model, { rank, alpha, targets })` wraps linear layers in
 * low-rank adapters and freezes the rest, `mergeLoRA` folds them in; `saveAdapter` /
 * `loadAdapter` in `@kiln/transformer/node` read and write peft's adapter format.
 *
 * The safetensors format itself is `@kiln/tensor/safetensors` (pure) and `@kiln/tensor/node`
 * (files).
 * @packageDocumentation
 */

export type { AuxiliaryOutputs } from './auxiliary-outputs.js';
export type { CachedForwardOptions, CausalLM, GenerationCache, PaddedCausalLM } from './causal-lm.js';
export {
  ConfigError,
  defaultFeedForward,
  defaultLlamaFF,
  feedForwardSpecs,
  GPT_PRESETS,
  type GPTConfig,
  type GPTFamily,
  type GPTPresetName,
  presetConfig,
  type ResolvedGPTConfig,
  resolveConfig,
} from './config.js';
export {
  createFeedForward,
  type FeedForwardDims,
  type FeedForwardFactory,
  type FeedForwardSpec,
  feedForwardKinds,
  type JsonValue,
  registerFeedForward,
} from './feed-forward-registry.js';
export { type GenerateOptions, generate } from './generate.js';
export { generateBatch } from './generate-batch.js';
export {
  GPT,
  type GPTCachedOptions,
  type GPTForwardOptions,
  type GPTOptions,
  type GPTOutput,
  IGNORE_INDEX,
} from './gpt.js';
export {
  assignHFTensors,
  type HFBinding,
  type HFNaming,
  hfShape,
  hfView,
  linearHFBindings,
} from './hf-binding.js';
export {
  fromHFConfig,
  type HFConfigFormat,
  ModelFileError,
  registerHFConfigFormat,
  toHFConfig,
} from './hf-config.js';
export { type HFNameMapEntry, hfNameMap } from './hf-names.js';
export { hfBindings, isIgnoredHFBuffer } from './hf-weights.js';
export {
  Attention,
  type AttentionContext,
  type AttentionOptions,
} from './layers/attention.js';
export { Block, type BlockOptions } from './layers/block.js';
export { Dropout } from './layers/dropout.js';
export { Embedding, type EmbeddingOptions } from './layers/embedding.js';
export type { FeedForward, FeedForwardContext, FeedForwardLayerOptions } from './layers/feed-forward.js';
export { GeluMLP } from './layers/gelu-mlp.js';
export type { LayerOptions } from './layers/init.js';
export { KVCache, type KVCacheOptions, type LayerKVCache } from './layers/kv-cache.js';
export { LayerNorm, type LayerNormOptions } from './layers/layer-norm.js';
export { Linear, type LinearOptions } from './layers/linear.js';
export { RMSNorm, type RMSNormOptions } from './layers/rms-norm.js';
export { applyRope, type RopeTables, RotaryEmbedding } from './layers/rope.js';
export { SwiGLU } from './layers/swiglu.js';
export {
  applyLoRA,
  describeLoRA,
  hasLoRA,
  type LoRAAdapterInfo,
  type LoRAInfo,
  type LoRAOptions,
  loraLayers,
  loraParameters,
  loraScale,
  mergeLoRA,
  trainableParameters,
  unloadLoRA,
  withAdaptersDisabled,
} from './lora/apply.js';
export { LoRAAdapter, type LoRAAdapterOptions, LoRAAdapters, LoRALinear } from './lora/lora-linear.js';
export {
  ADAPTER_FILES,
  type PeftLoRAConfig,
  parsePeftAdapterConfig,
  parsePeftTensorName,
  peftTensorNames,
} from './lora/peft-format.js';
export { type LoRASite, loraSites } from './lora/sites.js';
export {
  type LoadModelOptions,
  MODEL_FILES,
  type ModelFiles,
  type ModelFilesInput,
  modelFromFiles,
  modelToFiles,
  type SaveModelOptions,
} from './model-files.js';
export { checkSamplingOptions, type SamplingOptions, sampleToken } from './sampling.js';
export { checkTokenArray, checkTokenTensor, TOKENIZER_MISMATCH_HINT } from './token-ids.js';
