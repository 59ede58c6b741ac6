/**
 * Adapter directories in peft's format (Node only; public as `@kiln/transformer/node`):
 * `adapter_config.json` and `adapter_model.safetensors`, as `PeftModel.save_pretrained` writes
 * them, so an adapter trained here loads with `PeftModel.from_pretrained(base, dir)` and one
 * trained with peft loads here. The base model is not in the directory: load it first
 * (`loadModel`), then the adapter onto it.
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { readSafetensorsFile, saveSafetensors, writeFileAtomic } from '@kiln/tensor/node';
import { type ParsedSafetensors, tensorsFromSafetensors } from '@kiln/tensor/safetensors';
import type { GPT } from '../gpt.js';
import { ModelFileError } from '../hf-config.js';
import { describeLoRA, type LoRAInfo, loraSettings, wrapSites } from './apply.js';
import { LoRAAdapter, LoRALinear } from './lora-linear.js';
import {
  ADAPTER_FILES,
  parsePeftAdapterConfig,
  parsePeftTensorName,
  peftAdapterConfig,
  peftTensorNames,
} from './peft-format.js';
import { type LoRASite, loraSites } from './sites.js';

/** Options of {@link saveAdapter}. */
export interface SaveAdapterOptions {
  /** `base_model_name_or_path` in the config (a Hub id such as `gpt2`, or a path); default null. */
  baseModelNameOrPath?: string;
  /** Element type in the file (default float32). */
  dtype?: 'float32' | 'float16';
}

/** Metadata key of the base model's shape, which `loadAdapter` compares (peft ignores it). */
const BASE_METADATA = 'kiln_base_model';

/** The base model's shape, as stored in the file's metadata. */
function baseShape(model: GPT): Record<string, string | number> {
  const c = model.config;
  return {
    family: c.family,
    nLayers: c.nLayers,
    dModel: c.dModel,
    nHeads: c.nHeads,
    nKvHeads: c.nKvHeads,
    vocabSize: c.vocabSize,
  };
}

/** The sites that hold an adapter, each with it. */
function adaptedSites(model: GPT): { site: LoRASite; adapter: LoRAAdapter }[] {
  const out: { site: LoRASite; adapter: LoRAAdapter }[] = [];
  for (const site of loraSites(model)) {
    if (!(site.linear instanceof LoRALinear)) continue;
    const adapter = site.linear.lora[site.target];
    if (adapter instanceof LoRAAdapter) out.push({ site, adapter });
  }
  return out;
}

/**
 * Writes the adapters of `model` to `dir` (created if needed) in peft's format:
 * `adapter_model.safetensors` (peft's tensor names, `lora_A.weight` `[r, in]`, `lora_B.weight`
 * `[out, r]`) and then `adapter_config.json` (a LoraConfig), each replaced atomically.
 */
export async function saveAdapter(model: GPT, dir: string, options: SaveAdapterOptions = {}): Promise<void> {
  const settings = loraSettings(model);
  const adapted = adaptedSites(model);
  if (!settings || adapted.length === 0)
    throw new ModelFileError('saveAdapter: the model has no LoRA adapters; call applyLoRA(model, …) first');
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16')
    throw new ModelFileError(
      `saveAdapter: dtype must be 'float32' or 'float16', got ${JSON.stringify(dtype)}`,
    );
  const base = options.baseModelNameOrPath;
  if (base !== undefined && typeof base !== 'string')
    throw new ModelFileError(
      `saveAdapter: baseModelNameOrPath must be a string, got ${JSON.stringify(base)}`,
    );
  const nameless = adapted.filter(({ site }) => site.hfModule === null).map(({ site }) => site.layer);
  if (nameless.length > 0)
    throw new ModelFileError(
      `saveAdapter: ${nameless.join(', ')} have no Hugging Face module name (their feed-forward kind names none in hfBindings), so peft could not place their adapters`,
    );
  await mkdir(dir, { recursive: true });
  const tensors: Record<string, Tensor> = {};
  try {
    for (const { site, adapter } of adapted) {
      const names = peftTensorNames(site.hfModule!);
      for (const [name, p] of [
        [names.A, adapter.A],
        [names.B, adapter.B],
      ] as const)
        tensors[name] = p.dtype === 'float32' ? p.alias() : noGrad(() => p.cast('float32'));
    }
    await saveSafetensors(join(dir, ADAPTER_FILES.weights), tensors, {
      dtype: dtype === 'float16' ? 'float16' : undefined,
      metadata: { format: 'pt', [BASE_METADATA]: JSON.stringify(baseShape(model)) },
    });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  const sites = loraSites(model);
  const config = peftAdapterConfig(
    settings,
    adapted.map((a) => a.site),
    sites,
    base ?? null,
  );
  await writeFileAtomic(join(dir, ADAPTER_FILES.config), [
    new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
  ]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readConfig(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelFileError(`loadAdapter: cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(`loadAdapter: ${path} is not valid JSON (${(error as Error).message})`);
  }
}

/** Compares the base-model shape an adapter file recorded (ours only) with `model`'s. */
function checkBaseShape(parsed: ParsedSafetensors, model: GPT, path: string): void {
  const recorded = parsed.metadata[BASE_METADATA];
  if (recorded === undefined) return;
  let shape: Record<string, unknown>;
  try {
    shape = JSON.parse(recorded);
  } catch {
    return; // not ours to judge; the tensor shapes are checked anyway
  }
  const ours = baseShape(model);
  const differ = Object.keys(ours).filter((k) => k in shape && shape[k] !== ours[k]);
  if (differ.length > 0) {
    throw new ModelFileError(
      `loadAdapter: ${path} was trained on a different base model: ${differ.map((k) => `${k} ${JSON.stringify(shape[k])} (this model: ${JSON.stringify(ours[k])})`).join(', ')}; load the base model it was trained on`,
    );
  }
}

/**
 * Reads a peft LoRA adapter directory (written by {@link saveAdapter} or by peft's
 * `save_pretrained`) onto `model`, which must be the base model it was trained on and have no
 * adapters yet: the layers named in the file are wrapped as `applyLoRA` would with the file's
 * r, lora_alpha, lora_dropout and use_rslora, every base parameter is frozen, and the adapter
 * values are copied in (F16/BF16 converted). Which layers get adapters follows the tensors in
 * the file. Every problem (missing files, a non-LoRA or unsupported config, tensors for modules
 * the model lacks, wrong shapes, a lora_A without its lora_B) is a `ModelFileError` naming it,
 * raised before the model is changed.
 */
export async function loadAdapter(model: GPT, dir: string): Promise<LoRAInfo> {
  const configPath = join(dir, ADAPTER_FILES.config);
  const weightsPath = join(dir, ADAPTER_FILES.weights);
  if (!(await exists(configPath))) {
    throw new ModelFileError(
      `loadAdapter: ${dir} has no ${ADAPTER_FILES.config}; an adapter directory (saveAdapter, or peft's save_pretrained) holds ${ADAPTER_FILES.config} and ${ADAPTER_FILES.weights}`,
    );
  }
  if (!(await exists(weightsPath))) {
    const pickle = (await exists(join(dir, ADAPTER_FILES.pickle)))
      ? `; it has ${ADAPTER_FILES.pickle} (a PyTorch pickle, not read here): re-save it with save_pretrained(dir, safe_serialization=True)`
      : '';
    throw new ModelFileError(`loadAdapter: ${dir} has no ${ADAPTER_FILES.weights}${pickle}`);
  }
  const config = parsePeftAdapterConfig(await readConfig(configPath), configPath);
  const parsed = await readSafetensorsFile(weightsPath);
  checkBaseShape(parsed, model, weightsPath);

  const sites = loraSites(model);
  const byModule = new Map(sites.filter((s) => s.hfModule).map((s) => [s.hfModule!, s]));
  const found = new Map<string, { A?: string; B?: string }>();
  const foreign: string[] = [];
  const unknownModules: string[] = [];
  for (const name of parsed.tensors.keys()) {
    const p = parsePeftTensorName(name);
    if (!p) {
      foreign.push(name);
      continue;
    }
    if (!byModule.has(p.hfModule)) {
      unknownModules.push(p.hfModule);
      continue;
    }
    const entry = found.get(p.hfModule) ?? {};
    entry[p.matrix] = name;
    found.set(p.hfModule, entry);
  }
  const problems: string[] = [];
  const list = (xs: string[]) => `${xs.slice(0, 12).join(', ')}${xs.length > 12 ? ', …' : ''}`;
  if (foreign.length > 0)
    problems.push(
      `tensors that are not LoRA matrices (base_model.model.<module>.lora_A.weight / lora_B.weight) (${foreign.length}): ${list(foreign)}`,
    );
  const unknown = [...new Set(unknownModules)];
  if (unknown.length > 0) {
    const c = model.config;
    problems.push(
      `adapters for modules this ${c.family} model (${c.nLayers} layers) does not have (${unknown.length}): ${list(unknown)}; it has e.g. ${list(sites.slice(0, 4).map((s) => s.hfModule ?? s.layer))}`,
    );
  }
  const half = [...found]
    .filter(([, e]) => !e.A || !e.B)
    .map(([m, e]) => `${m} (no lora_${e.A ? 'B' : 'A'})`);
  if (half.length > 0) problems.push(`incomplete adapters (${half.length}): ${list(half)}`);
  const r = config.rank;
  const misShaped: string[] = [];
  for (const [module, e] of found) {
    const site = byModule.get(module)!;
    const want = { A: [r, site.linear.inFeatures], B: [site.rows[1] - site.rows[0], r] };
    for (const m of ['A', 'B'] as const) {
      const name = e[m];
      if (!name) continue;
      const got = parsed.tensors.get(name)!.shape;
      if (got.join() !== want[m].join()) misShaped.push(`${name}: expected [${want[m]}], file has [${got}]`);
    }
  }
  if (misShaped.length > 0)
    problems.push(
      `mis-shaped tensors (${misShaped.length}, r = ${r}):\n    ${misShaped.slice(0, 12).join('\n    ')}`,
    );
  if (found.size === 0 && problems.length === 0) problems.push('the file holds no LoRA tensors');
  if (problems.length > 0) {
    const base = config.baseModelNameOrPath ? ` (trained on ${config.baseModelNameOrPath})` : '';
    throw new ModelFileError(
      `loadAdapter: the adapter in ${dir}${base} does not fit this model:\n  ${problems.join('\n  ')}`,
    );
  }

  const chosen = sites.filter((s) => s.hfModule && found.has(s.hfModule));
  // the random A init is overwritten: seed it so the caller's random stream stays where it was
  wrapSites(model, chosen, { ...config, seed: 0 }, 'loadAdapter');
  noGrad(() => {
    for (const { site, adapter } of adaptedSites(model)) {
      const names = found.get(site.hfModule!)!;
      const values = tensorsFromSafetensors(parsed, {
        names: [names.A!, names.B!],
        float16: 'float32',
        backend: model.backend,
      });
      try {
        adapter.A.assign(values[names.A!]);
        adapter.B.assign(values[names.B!]);
      } finally {
        for (const t of Object.values(values)) t.dispose();
      }
    }
  });
  return describeLoRA(model);
}
