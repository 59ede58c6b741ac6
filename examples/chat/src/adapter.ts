// Applying a LoRA adapter directory (peft format: adapter_config.json +
// adapter_model.safetensors) on top of the loaded model.
//
// MERGE NOTE: `loadAdapter(model, dir)` is being added to '@kiln/transformer/node' on the `lora`
// branch. Once it lands, replace the body of `applyAdapter` with
//
//   import { loadAdapter } from '@kiln/transformer/node';
//   ...
//   await loadAdapter(model, dir);
//
// Until then --adapter fails with the error below rather than chatting without the adapter.
import type { GPT } from '@kiln/transformer';

/**
 * Wraps the layers of `model` named in the adapter at `dir` with LoRA and loads the adapter's
 * weights (the base weights stay as they are). Throws a clear error while this Kiln has no
 * adapter loader.
 */
export async function applyAdapter(model: GPT, dir: string): Promise<void> {
  void model;
  throw new Error(
    `--adapter ${dir}: LoRA adapters are not available in this Kiln yet (@kiln/transformer/node has no loadAdapter); ` +
      'chat with the base model (leave out --adapter) or with a model whose adapter was merged into its weights',
  );
}
