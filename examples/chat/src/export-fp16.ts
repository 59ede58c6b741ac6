// Writes a float16 copy of a model directory with its tokenizer beside it: the "parameter file"
// that run.mjs (or Hugging Face transformers) loads. Half the size of float32, and every value
// is rounded once to float16 here, so run.mjs and @kiln/transformer see the same weights.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, saveModel } from '@kiln/transformer/node';
import { TOKENIZER_FILE } from './checkpoint.js';

/** Loads the model at `modelDir` and writes it to `outDir` as float16, with `tokenizerPath` copied in as tokenizer.json. */
export async function exportFloat16(modelDir: string, tokenizerPath: string, outDir: string): Promise<void> {
  const model = await loadModel(modelDir);
  try {
    await mkdir(outDir, { recursive: true });
    await saveModel(model, outDir, { dtype: 'float16' });
  } finally {
    model.dispose();
  }
  const target = join(outDir, TOKENIZER_FILE);
  if (target !== tokenizerPath) await copyFile(tokenizerPath, target);
}
