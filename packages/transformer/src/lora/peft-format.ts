/**
 * peft's adapter format, without file access: the `adapter_config.json` that
 * `PeftModel.save_pretrained` writes for a LoRA adapter, and the tensor names of
 * `adapter_model.safetensors`: `base_model.model.<HF module>.lora_A.weight` `[r, in]` and
 * `….lora_B.weight` `[out, r]` (peft drops the adapter name `default` when it saves). GPT-2's
 * `Conv1D` layers store their weight `[in, out]`, but their adapters are `nn.Linear`s with the
 * same shapes as for any layer; `fan_in_fan_out: true` only tells peft to transpose `B·A` when
 * it merges. Files are read and written by `saveAdapter` / `loadAdapter` (`@kiln/transformer/node`).
 */
import { ModelFileError } from '../hf-config.js';
import type { LoRASite } from './sites.js';

/** File names inside an adapter directory (peft's). */
export const ADAPTER_FILES = {
  config: 'adapter_config.json',
  weights: 'adapter_model.safetensors',
  /** peft's pickled format, which is not read here. */
  pickle: 'adapter_model.bin',
} as const;

/** The peft tensor names of the adapter on Hugging Face module `hfModule`. */
export function peftTensorNames(hfModule: string): { A: string; B: string } {
  const base = `base_model.model.${hfModule}`;
  return { A: `${base}.lora_A.weight`, B: `${base}.lora_B.weight` };
}

const TENSOR_NAME = /^base_model\.model\.(.+)\.lora_(A|B)\.weight$/;

/** The HF module and matrix of a peft tensor name, or null for any other name. */
export function parsePeftTensorName(name: string): { hfModule: string; matrix: 'A' | 'B' } | null {
  const m = TENSOR_NAME.exec(name);
  return m ? { hfModule: m[1], matrix: m[2] as 'A' | 'B' } : null;
}

/**
 * peft `target_modules` entries that select exactly the adapted modules: a module's leaf name
 * (`c_attn`) when it selects no other site, else the shortest dotted suffix that does not
 * (`attn.c_proj`, since GPT-2's `c_proj` is also the MLP's): peft matches an entry against a
 * module name or a `.`-preceded suffix of it.
 */
export function peftTargetModules(adapted: readonly LoRASite[], all: readonly LoRASite[]): string[] {
  const others = all.filter((s) => s.hfModule && !adapted.some((a) => a.hfModule === s.hfModule));
  const selects = (entry: string, module: string) => module === entry || module.endsWith(`.${entry}`);
  const entries = new Set<string>();
  for (const site of adapted) {
    const parts = site.hfModule!.split('.');
    for (let n = 1; n <= parts.length; n++) {
      const entry = parts.slice(-n).join('.');
      if (n === parts.length || !others.some((o) => selects(entry, o.hfModule!))) {
        entries.add(entry);
        break;
      }
    }
  }
  // a leaf that several adapted modules share (c_attn in every block) is listed once
  return [...entries].sort();
}

/** The LoRA settings an adapter config holds. */
export interface PeftLoRAConfig {
  rank: number;
  alpha: number;
  dropout: number;
  rsLoRA: boolean;
  /** `base_model_name_or_path` (informational), or null. */
  baseModelNameOrPath: string | null;
}

/** The `adapter_config.json` object for adapters with these settings on `adapted` sites of a `family` model. */
export function peftAdapterConfig(
  settings: { rank: number; alpha: number; dropout: number; rsLoRA: boolean },
  adapted: readonly LoRASite[],
  all: readonly LoRASite[],
  baseModelNameOrPath: string | null,
): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModelNameOrPath,
    revision: null,
    inference_mode: true,
    r: settings.rank,
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout,
    target_modules: peftTargetModules(adapted, all),
    // GPT-2's Conv1D layers hold their weights [in, out]
    fan_in_fan_out: adapted.some((s) => s.conv1d),
    bias: 'none',
    use_rslora: settings.rsLoRA,
    use_dora: false,
    modules_to_save: null,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * Reads the settings from a parsed `adapter_config.json` (`source` names it in errors) and
 * rejects what these adapters cannot represent: other PEFT methods, DoRA, trained biases,
 * per-module ranks or alphas, fully trained extra modules.
 */
export function parsePeftAdapterConfig(json: unknown, source: string): PeftLoRAConfig {
  const fail = (message: string): never => {
    throw new ModelFileError(`loadAdapter: ${source}: ${message}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('must hold a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA')
    fail(`peft_type is ${JSON.stringify(c.peft_type)}; only LoRA adapters ("LORA") load here`);
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM')
    fail(
      `task_type is ${JSON.stringify(c.task_type)}; only causal language model adapters ("CAUSAL_LM") load here`,
    );
  const rank = c.r;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1)
    fail(`r must be a positive integer, got ${JSON.stringify(rank)}`);
  const alpha = c.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    fail(`lora_alpha must be a number > 0, got ${JSON.stringify(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    fail(`lora_dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const rsLoRA = c.use_rslora ?? false;
  if (typeof rsLoRA !== 'boolean') fail(`use_rslora must be a boolean, got ${JSON.stringify(rsLoRA)}`);
  if (c.use_dora === true)
    fail('use_dora is true; DoRA adapters (a learned magnitude per column) are not supported');
  if (c.bias !== undefined && c.bias !== 'none')
    fail(`bias is ${JSON.stringify(c.bias)}; only adapters that train no biases (bias "none") load here`);
  if (c.lora_bias === true) fail('lora_bias is true; adapters with a bias on lora_B are not supported');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const)
    if (!isEmpty(c[key]))
      fail(
        `${key} is set (${JSON.stringify(c[key])}); per-module ranks and alphas are not supported: every adapter uses r and lora_alpha`,
      );
  if (!isEmpty(c.modules_to_save))
    fail(
      `modules_to_save is set (${JSON.stringify(c.modules_to_save)}); adapters that fully train extra modules are not supported`,
    );
  if (!isEmpty(c.layer_replication)) fail('layer_replication is set; it is not supported');
  const base = c.base_model_name_or_path;
  return {
    rank: rank as number,
    alpha: alpha as number,
    dropout: dropout as number,
    rsLoRA: rsLoRA as boolean,
    baseModelNameOrPath: typeof base === 'string' ? base : null,
  };
}
