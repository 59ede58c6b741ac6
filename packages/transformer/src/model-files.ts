/**
 * A model as Hugging Face files in memory, both ways, for every environment (browsers too):
 * `modelToFiles` gives the bytes of `model.safetensors` and the text of `config.json`, and
 * `modelFromFiles` builds a `GPT` from them. `saveModel` / `loadModel` (`@kiln/transformer/node`)
 * are these plus the file system; a web page hands the bytes to a `Blob`, a download or OPFS.
 */
import { type Backend, getRngState, setRngState, type Tensor } from '@kiln/tensor';
import { type ParsedSafetensors, parseSafetensors, tensorsToSafetensors } from '@kiln/tensor/safetensors';
import { GPT } from './gpt.js';
import { assignHFTensors, hfView } from './hf-binding.js';
import { fromHFConfig, ModelFileError, toHFConfig } from './hf-config.js';
import { hfBindings, hfShape, isIgnoredHFBuffer } from './hf-weights.js';
import { hasLoRA } from './lora/apply.js';

/** File names inside a model directory. */
export const MODEL_FILES = {
  weights: 'model.safetensors',
  shardIndex: 'model.safetensors.index.json',
  config: 'config.json',
} as const;

/** Options of {@link modelToFiles} (and `saveModel`). */
export interface SaveModelOptions {
  /** Element type in the file (default float32; float16 halves it, values beyond ±65504 are an error). */
  dtype?: 'float32' | 'float16';
}

/** Options of {@link modelFromFiles} (and `loadModel`). */
export interface LoadModelOptions {
  /** Backend for the parameters (default: the default backend). */
  backend?: Backend | string;
  /** Parameter dtype after loading (default float32, whatever the file stores). */
  dtype?: 'float32' | 'float16';
}

/** A model's two files: `model.safetensors` (HF names and layouts) and `config.json` (HF keys plus `kiln_config`). */
export interface ModelFiles {
  'model.safetensors': Uint8Array;
  'config.json': string;
}

/**
 * The files of `model` in Hugging Face format. A tied head is stored once, as `save_pretrained`
 * does. Refuses a model with LoRA adapters (the HF names cover the base weights only).
 */
export async function modelToFiles(
  model: GPT,
  options: SaveModelOptions = {},
  who = 'modelToFiles',
): Promise<ModelFiles> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new ModelFileError(`${who}: dtype must be 'float32' or 'float16', got ${JSON.stringify(dtype)}`);
  }
  if (hasLoRA(model)) {
    // the HF names cover the base weights only: writing them would silently drop the adapters
    throw new ModelFileError(
      `${who}: the model has LoRA adapters; mergeLoRA(model) first to save the merged weights, or saveAdapter(model, dir) to save the adapters alone`,
    );
  }
  const views: Record<string, Tensor> = {};
  let weights: Uint8Array;
  try {
    for (const b of hfBindings(model)) {
      const view = hfView(b);
      // float16 parameters exported as float32 need a cast; float32 → float16 is done by the writer.
      views[b.name] = view.dtype === 'float16' && dtype === 'float32' ? view.cast('float32') : view;
      if (views[b.name] !== view) view.dispose();
    }
    weights = await tensorsToSafetensors(views, {
      dtype: dtype === 'float16' ? 'float16' : undefined,
      metadata: { format: 'pt' },
    });
  } finally {
    for (const t of Object.values(views)) t.dispose();
  }
  return {
    'model.safetensors': weights,
    'config.json': `${JSON.stringify(toHFConfig(model.config, dtype), null, 2)}\n`,
  };
}

/** What {@link modelFromFiles} reads: config.json (text or object) and the weights (bytes, one parsed file, or tensors by name over shards). */
export interface ModelFilesInput {
  config: string | Record<string, unknown>;
  weights: Uint8Array | ParsedSafetensors | Map<string, ParsedSafetensors>;
}

/** Parses config.json text, with errors that name the file. */
export function parseModelConfig(text: string, where: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(
      `${where} is not valid JSON (${(error as Error).message}); the model files are corrupt`,
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFileError(`${where} must hold a JSON object`);
  }
  return json as Record<string, unknown>;
}

/**
 * Builds a `GPT` from Hugging Face files written by {@link modelToFiles}, `saveModel` or
 * `save_pretrained` (`GPT2LMHeadModel`, also the bare `GPT2Model` names, or `LlamaForCausalLM`).
 * F16/BF16/F64 weights are converted to the parameter dtype. Every parameter must be present with
 * the right shape and no unknown tensor may be left over; errors list the names and shapes.
 * Does not disturb the global random generator. `where` names the files in errors (`dir`: the
 * directory or upload they came from; `config`: the config file's path).
 */
export function modelFromFiles(
  files: ModelFilesInput,
  options: LoadModelOptions = {},
  where: { dir?: string; config?: string } = {},
): GPT {
  const dir = where.dir ?? 'the model files';
  const configSource = where.config ?? 'config.json';
  if (options.dtype !== undefined && options.dtype !== 'float32' && options.dtype !== 'float16') {
    throw new ModelFileError(
      `loadModel: dtype must be 'float32' or 'float16', got ${JSON.stringify(options.dtype)}`,
    );
  }
  const configJson =
    typeof files.config === 'string' ? parseModelConfig(files.config, configSource) : files.config;
  const config = fromHFConfig(configJson, configSource);
  const weights = weightsByName(files.weights);

  // The random init is overwritten; keep the caller's random stream where it was.
  const rng = getRngState();
  let model: GPT;
  try {
    model = new GPT(config, { backend: options.backend });
  } finally {
    setRngState(rng);
  }
  try {
    const gpt2Prefix =
      config.family === 'gpt2' && !weights.has('transformer.wte.weight') && weights.has('wte.weight')
        ? ''
        : 'transformer.';
    const bindings = hfBindings(model, gpt2Prefix);
    const expected = new Set(bindings.map((b) => b.name));
    const missing = bindings.filter((b) => !weights.has(b.name)).map((b) => b.name);
    const unexpected = [...weights.keys()].filter(
      (n) => !expected.has(n) && !isIgnoredHFBuffer(n) && !(n === 'lm_head.weight' && config.tieEmbeddings),
    );
    const misShaped = bindings
      .filter((b) => weights.has(b.name))
      .map((b) => ({ b, got: weights.get(b.name)!.tensors.get(b.name)!.shape }))
      .filter(({ b, got }) => hfShape(b).join() !== got.join())
      .map(({ b, got }) => `${b.name}: expected [${hfShape(b)}], file has [${got}]`);
    const problems: string[] = [];
    if (missing.length > 0) {
      const hint = missing.includes('lm_head.weight')
        ? ' (lm_head.weight: set tie_word_embeddings: true if the head is tied)'
        : '';
      problems.push(
        `missing tensors (${missing.length}): ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}${hint}`,
      );
    }
    if (unexpected.length > 0) {
      problems.push(
        `unexpected tensors (${unexpected.length}): ${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ', …' : ''}`,
      );
    }
    if (misShaped.length > 0)
      problems.push(
        `mis-shaped tensors (${misShaped.length}):\n    ${misShaped.slice(0, 20).join('\n    ')}`,
      );
    if (problems.length > 0) {
      throw new ModelFileError(
        `loadModel: the weights in ${dir} do not match its config.json (${config.family}, ${config.nLayers} layers, dModel ${config.dModel}, ${config.nHeads} heads / ${config.nKvHeads} kv heads, vocab ${config.vocabSize}):\n  ${problems.join('\n  ')}`,
      );
    }
    assignHFTensors(bindings, (name) => weights.get(name)!, model.backend);
    if (options.dtype === 'float16') model.to('float16');
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function weightsByName(weights: ModelFilesInput['weights']): Map<string, ParsedSafetensors> {
  if (weights instanceof Map) return weights;
  const parsed = weights instanceof Uint8Array ? parseSafetensors(weights) : weights;
  return new Map([...parsed.tensors.keys()].map((name) => [name, parsed]));
}
