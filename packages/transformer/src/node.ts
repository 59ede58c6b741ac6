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
 * ```ts
 * import { loadModel, saveModel } from '@kiln/transformer/node';
 *
 * await saveModel(model, 'out/model', { dtype: 'float16' }); // loads in transformers
 * const again = await loadModel('out/model');
 * ```
 * @packageDocumentation
 */

export {
  type LoadModelOptions,
  loadModel,
  MODEL_FILES,
  type SaveModelOptions,
  saveModel,
} from './model-dir.js';
