/**
 * Model directories in Hugging Face format (Node only; public as `@kiln/transformer/node`):
 * `model.safetensors` with HF tensor names plus `config.json` in HF format. Ours load in
 * `transformers` (GPT2LMHeadModel / LlamaForCausalLM) and theirs load here, including sharded
 * `model.safetensors.index.json` directories. (A model directory holds weights only; the
 * training state that a run resumes from is `@kiln/trainer`'s training checkpoint.)
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import { type Backend, getRngState, setRngState, type Tensor } from '@kiln/tensor';
import { readSafetensorsFile, saveSafetensors, writeFileAtomic } from '@kiln/tensor/node';
import { type ParsedSafetensors, tensorsFromSafetensors } from '@kiln/tensor/safetensors';
import { GPT } from './gpt.js';
import { fromHFConfig, ModelFileError, toHFConfig } from './hf-config.js';
import { hfBindings, hfShape, hfView, isIgnoredHFBuffer } from './hf-weights.js';
import { hasLoRA } from './lora/apply.js';

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** Element type in the file (default float32; float16 halves it, values beyond ±65504 are an error). */
  dtype?: 'float32' | 'float16';
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Backend for the parameters (default: the default backend). */
  backend?: Backend | string;
  /** Parameter dtype after loading (default float32, whatever the file stores). */
  dtype?: 'float32' | 'float16';
}

/** File names inside a model directory. */
export const MODEL_FILES = {
  weights: 'model.safetensors',
  shardIndex: 'model.safetensors.index.json',
  config: 'config.json',
} as const;

/**
 * Writes `model` to `dir` (created if needed) as `model.safetensors` (Hugging Face names and
 * layouts) and `config.json` (Hugging Face keys plus `kiln_config`). Each file is replaced
 * atomically; the weights are written first. A tied head is stored once, as `save_pretrained` does.
 */
export async function saveModel(model: GPT, dir: string, options: SaveModelOptions = {}): Promise<void> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new ModelFileError(`saveModel: dtype must be 'float32' or 'float16', got ${JSON.stringify(dtype)}`);
  }
  if (hasLoRA(model)) {
    // the HF names cover the base weights only: writing them would silently drop the adapters
    throw new ModelFileError(
      'saveModel: the model has LoRA adapters; mergeLoRA(model) first to save the merged weights, or saveAdapter(model, dir) to save the adapters alone',
    );
  }
  await mkdir(dir, { recursive: true });
  const views: Record<string, Tensor> = {};
  try {
    for (const b of hfBindings(model)) {
      const view = hfView(b);
      // float16 parameters exported as float32 need a cast; float32 → float16 is done by the writer.
      views[b.name] = view.dtype === 'float16' && dtype === 'float32' ? view.cast('float32') : view;
      if (views[b.name] !== view) view.dispose();
    }
    await saveSafetensors(join(dir, MODEL_FILES.weights), views, {
      dtype: dtype === 'float16' ? 'float16' : undefined,
      metadata: { format: 'pt' },
    });
  } finally {
    for (const t of Object.values(views)) t.dispose();
  }
  const config = `${JSON.stringify(toHFConfig(model.config, dtype), null, 2)}\n`;
  await writeFileAtomic(join(dir, MODEL_FILES.config), [new TextEncoder().encode(config)]);
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
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(
      `loadModel: ${path} is not valid JSON (${(error as Error).message}); the model directory is corrupt`,
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFileError(`loadModel: ${path} must hold a JSON object`);
  }
  return json as Record<string, unknown>;
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
 * no unknown tensor may be left over; errors list the offending names and shapes.
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
  const config = fromHFConfig(await readJson(configPath, 'config'), configPath);
  const weights = await readWeights(dir);

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
    // One tensor at a time, so loading needs memory for the model plus one tensor.
    noGrad(() => {
      for (const b of bindings) {
        const [src] = Object.values(
          tensorsFromSafetensors(weights.get(b.name)!, {
            names: [b.name],
            float16: 'float32',
            backend: model.backend,
          }),
        );
        const target = hfView(b);
        try {
          target.assign(src);
        } finally {
          target.dispose();
          src.dispose();
        }
      }
    });
    if (options.dtype === 'float16') model.to('float16');
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
