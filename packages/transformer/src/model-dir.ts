/**
 * Model directories in Hugging Face format (Node only; public as `@kiln/transformer/node`):
 * `model.safetensors` with HF tensor names plus `config.json` in HF format. Ours load in
 * `transformers` (GPT2LMHeadModel / LlamaForCausalLM) and theirs load here, including sharded
 * `model.safetensors.index.json` directories. (A model directory holds weights only; the
 * training state that a run resumes from is `@kiln/trainer`'s training checkpoint.)
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, writeFileAtomic } from '@kiln/tensor/node';
import type { ParsedSafetensors } from '@kiln/tensor/safetensors';
import type { GPT } from './gpt.js';
import { ModelFileError } from './hf-config.js';
import {
  type LoadModelOptions,
  MODEL_FILES,
  modelFromFiles,
  modelToFiles,
  parseModelConfig,
  type SaveModelOptions,
} from './model-files.js';

export { type LoadModelOptions, MODEL_FILES, type SaveModelOptions } from './model-files.js';

/**
 * Writes `model` to `dir` (created if needed) as `model.safetensors` (Hugging Face names and
 * layouts) and `config.json` (Hugging Face keys plus `kiln_config`). Each file is replaced
 * atomically; the weights are written first. A tied head is stored once, as `save_pretrained` does.
 * The bytes come from {@link modelToFiles} (which works in browsers too).
 */
export async function saveModel(model: GPT, dir: string, options: SaveModelOptions = {}): Promise<void> {
  const files = await modelToFiles(model, options, 'saveModel');
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, MODEL_FILES.weights), [files[MODEL_FILES.weights]]);
  await writeFileAtomic(join(dir, MODEL_FILES.config), [new TextEncoder().encode(files[MODEL_FILES.config])]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelFileError(`loadModel: cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  return parseModelConfig(text, `loadModel: ${path}`);
}

/** Every tensor of the model directory's safetensors file(s), by name, with the parsed file it lives in. */
async function readWeights(dir: string): Promise<Map<string, ParsedSafetensors>> {
  const single = join(dir, MODEL_FILES.weights);
  const index = join(dir, MODEL_FILES.shardIndex);
  const files: string[] = [];
  if (await exists(single)) {
    files.push(single);
  } else if (await exists(index)) {
    const map = (await readJson(index, 'shard index')).weight_map;
    if (map === null || typeof map !== 'object')
      throw new ModelFileError(`loadModel: ${index} has no weight_map object`);
    files.push(...new Set(Object.values(map as Record<string, string>).map((f) => join(dir, String(f)))));
  } else {
    throw new ModelFileError(
      `loadModel: ${dir} has neither ${MODEL_FILES.weights} nor ${MODEL_FILES.shardIndex}; is it a model directory written by saveModel or save_pretrained?`,
    );
  }
  const byName = new Map<string, ParsedSafetensors>();
  for (const file of files) {
    const parsed = await readSafetensorsFile(file);
    for (const name of parsed.tensors.keys()) {
      if (byName.has(name))
        throw new ModelFileError(`loadModel: tensor '${name}' appears in more than one shard (${file})`);
      byName.set(name, parsed);
    }
  }
  return byName;
}

/**
 * Loads a model directory written by {@link saveModel} or by Hugging Face
 * `save_pretrained` for `GPT2LMHeadModel` (also the bare `GPT2Model` names without
 * `transformer.`) or `LlamaForCausalLM`, single-file or sharded. F16/BF16/F64 weights are
 * converted to the parameter dtype. Every parameter must be present with the right shape and
 * no unknown tensor may be left over; errors list the offending names and shapes
 * ({@link modelFromFiles} does the work, and works in browsers too).
 *
 * Loading does not disturb the global random generator.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<GPT> {
  if (options.dtype !== undefined && options.dtype !== 'float32' && options.dtype !== 'float16') {
    throw new ModelFileError(
      `loadModel: dtype must be 'float32' or 'float16', got ${JSON.stringify(options.dtype)}`,
    );
  }
  const configPath = join(dir, MODEL_FILES.config);
  if (!(await exists(configPath))) {
    throw new ModelFileError(
      `loadModel: ${dir} has no ${MODEL_FILES.config}; a model directory needs config.json and model.safetensors`,
    );
  }
  const config = await readJson(configPath, 'config');
  const weights = await readWeights(dir);
  return modelFromFiles({ config, weights }, options, { dir, config: configPath });
}
