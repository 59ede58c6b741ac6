// Applying a LoRA adapter directory (peft format: adapter_config.json +
// adapter_model.safetensors) on top of the loaded model.
import type { GPT } from '@kiln/transformer';
import { loadAdapter } from '@kiln/transformer/node';

/**
 * Wraps the layers of `model` named in the adapter at `dir` with LoRA and loads the adapter's
 * weights (the base weights stay as they are); returns a one-line description for the log.
 * `loadAdapter` checks the directory, the files and the base model before touching the model,
 * and its errors say what is wrong.
 */
export async function applyAdapter(model: GPT, dir: string): Promise<string> {
  const info = await loadAdapter(model, dir);
  return `adapter ${dir}: LoRA rank ${info.rank}, α ${info.alpha}, on ${info.wrapped.length} layers (${info.trainableParams.toLocaleString('en-US')} parameters)`;
}
