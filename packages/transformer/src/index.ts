/**
 * @kiln/transformer: transformer language models for Kiln. Layers, the `GPT` model (GPT-2 and
 * Llama families from one config), KV-cache generation and sampling, and checkpoints as Hugging
 * Face directories (safetensors + config.json).
 *
 * ```ts
 * import { init, manualSeed, tensor } from '@kiln/tensor';
 * import { GPT, saveCheckpoint, loadCheckpoint } from '@kiln/transformer';
 *
 * await init();
 * manualSeed(0);
 * const model = new GPT(GPT.config('gpt2-tiny'));
 * const ids = tensor([[1, 2, 3]], { dtype: 'int32' });
 * const targets = tensor([[2, 3, 4]], { dtype: 'int32' });
 * const { logits, loss } = model.forward(ids, targets);
 * for await (const id of model.generate([1, 2, 3], { maxTokens: 8, seed: 1 })) console.log(id);
 * await saveCheckpoint(model, 'ckpt');
 * const again = await loadCheckpoint('ckpt');
 * ```
 *
 * The byte-level safetensors functions (`parseSafetensors`, `serializeSafetensors`) and tensor
 * conversion (`tensorsFromSafetensors`, `tensorsToSafetensors`) are pure and run in browsers;
 * the file helpers and `saveCheckpoint` / `loadCheckpoint` need Node.
 * @packageDocumentation
 */

export type { AuxiliaryOutputs } from './auxiliary-outputs.js';
export type { CausalLM, GenerationCache } from './causal-lm.js';
export {
  CHECKPOINT_FILES,
  type LoadCheckpointOptions,
  loadCheckpoint,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from './checkpoint.js';
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
export { GPT, type GPTOptions, type GPTOutput, IGNORE_INDEX } from './gpt.js';
export { type HFBinding, type HFNaming, hfShape, hfView, linearHFBindings } from './hf-binding.js';
export { CheckpointError, fromHFConfig, toHFConfig } from './hf-config.js';
export { hfBindings, isIgnoredHFBuffer } from './hf-weights.js';
export { Attention, type AttentionContext, type AttentionOptions, causalMask } from './layers/attention.js';
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
  type ParsedSafetensors,
  type ParseSafetensorsOptions,
  parseSafetensors,
  SAFETENSORS_ITEM_SIZE,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEntry,
  SafetensorsError,
  serializeSafetensors,
  serializeSafetensorsParts,
} from './safetensors.js';
export {
  loadSafetensors,
  readSafetensorsFile,
  saveSafetensors,
  writeSafetensorsFile,
} from './safetensors-file.js';
export {
  decodeEntry,
  entryFromTensor,
  type LoadTensorsOptions,
  type SaveTensorsOptions,
  safetensorsEntriesFromTensors,
  tensorsFromSafetensors,
  tensorsToSafetensors,
} from './safetensors-tensors.js';
export { checkSamplingOptions, type SamplingOptions, sampleToken } from './sampling.js';
