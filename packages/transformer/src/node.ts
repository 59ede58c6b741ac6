/**
 * `@kiln/transformer/node`: model directories on disk (Node only), kept out of the main entry so
 * that `@kiln/transformer` bundles for browsers.
 *
 * A model directory is what Hugging Face's `save_pretrained` writes: `model.safetensors` (HF
 * tensor names and layouts) and `config.json` (HF keys plus `kiln_config`). `saveModel` writes
 * one, `loadModel` reads ours and Hugging Face's `GPT2LMHeadModel` / `LlamaForCausalLM`
 * directories (single file or sharded). Problems are `ModelFileError`s (from
 * `@kiln/transformer`) or `SafetensorsError`s (from `@kiln/tensor/safetensors`).
 *
 * An adapter directory is what peft's `save_pretrained` writes for a LoRA adapter:
 * `adapter_config.json` + `adapter_model.safetensors`; `saveAdapter` writes one from a model
 * with `applyLoRA` adapters, `loadAdapter` reads ours and peft's onto a base model.
 *
 * ```ts
 * import { loadModel, saveModel } from '@kiln/transformer/node';
 *
 * await saveModel(model, 'out/model', { dtype: 'float16' }); // loads in transformers
 * const again = await loadModel('out/model');
 * ```
 * @packageDocumentation
 */

export { loadAdapter, type SaveAdapterOptions, saveAdapter } from './lora/adapter-dir.js';
export {
  type LoadModelOptions,
  loadModel,
  MODEL_FILES,
  type SaveModelOptions,
  saveModel,
} from './model-dir.js';
