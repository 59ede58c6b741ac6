/**
 * Where LoRA adapters can go in a `GPT`: every linear layer inside the blocks (not the
 * vocabulary head, as peft's `all-linear`), one site per Hugging Face module. Each site knows
 * its Kiln layer, its short target name, its Hugging Face module name (from the model's own HF
 * bindings, so the names always agree with `saveModel`) and the output rows it covers: Llama's
 * fused `qkv` is three sites (`q_proj`, `k_proj`, `v_proj` are row blocks of it), GPT-2's
 * `c_attn` one.
 */
import { Module } from '@kiln/autograd';
import type { GPT } from '../gpt.js';
import type { HFBinding } from '../hf-binding.js';
import { hfBindings } from '../hf-weights.js';
import { Linear } from '../layers/linear.js';

/** One place an adapter can go. */
export interface LoRASite {
  /** Index of the block. */
  block: number;
  /** Kiln path of the linear layer (`blocks.0.attn.qkv`). */
  layer: string;
  /** The layer's property name in its parent (`qkv`, `o`, `fc`, `proj`, `gate`, `up`, `down`). */
  key: string;
  /** Short target name: the property name, or for a row block of a fused layer the HF name without `_proj` (`q`, `k`, `v`). */
  target: string;
  /** Hugging Face module name (`transformer.h.0.attn.c_attn`, `model.layers.0.self_attn.q_proj`), or null without one. */
  hfModule: string | null;
  /** Output rows `[start, end)` of the layer that this site covers. */
  rows: [number, number];
  /** Hugging Face stores the weight `[in, out]` (GPT-2's `Conv1D`: peft's `fan_in_fan_out`). */
  conv1d: boolean;
  /** The layer (a `LoRALinear` once wrapped). */
  linear: Linear;
  /** Where the layer is held, so it can be replaced. */
  owner: Record<string | number, unknown>;
  /** Its key in `owner`. */
  slot: string | number;
}

/** Every linear layer under `root`, with its path and the slot that holds it, depth first. */
function linearsUnder(
  root: Module,
  prefix: string,
): {
  path: string;
  key: string;
  linear: Linear;
  owner: Record<string | number, unknown>;
  slot: string | number;
}[] {
  const out: ReturnType<typeof linearsUnder> = [];
  const seen = new Set<Module>();
  const visit = (
    value: unknown,
    path: string,
    key: string,
    owner: Record<string | number, unknown>,
    slot: string | number,
  ) => {
    if (value instanceof Linear) {
      if (!seen.has(value)) out.push({ path, key, linear: value, owner, slot });
      seen.add(value);
    } else if (value instanceof Module) walk(value, path);
  };
  const walk = (m: Module, path: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const [key, value] of Object.entries(m)) {
      const owner = m as unknown as Record<string, unknown>;
      if (Array.isArray(value)) {
        value.forEach((v, i) => {
          visit(v, `${path}.${key}.${i}`, String(i), value as unknown as Record<number, unknown>, i);
        });
      } else visit(value, `${path}.${key}`, key, owner, key);
    }
  };
  walk(root, prefix);
  return out;
}

/** Every adapter site of `model`, block by block, in the layers' property order. */
export function loraSites(model: GPT): LoRASite[] {
  const byWeight = new Map<unknown, HFBinding[]>();
  for (const b of hfBindings(model)) {
    if (!b.name.endsWith('.weight')) continue;
    const list = byWeight.get(b.param) ?? [];
    list.push(b);
    byWeight.set(b.param, list);
  }
  const sites: LoRASite[] = [];
  model.blocks.forEach((block, i) => {
    for (const { path, key, linear, owner, slot } of linearsUnder(block, `blocks.${i}`)) {
      const common = { block: i, layer: path, key, linear, owner, slot };
      const bindings = byWeight.get(linear.weight) ?? [];
      if (bindings.length === 0) {
        sites.push({ ...common, target: key, hfModule: null, rows: [0, linear.outFeatures], conv1d: false });
        continue;
      }
      for (const b of bindings) {
        const hfModule = b.name.slice(0, -'.weight'.length);
        const rows: [number, number] = b.rows ? [b.rows[0], b.rows[1]] : [0, linear.outFeatures];
        const whole = rows[0] === 0 && rows[1] === linear.outFeatures;
        const target = whole ? key : hfLeaf(hfModule).replace(/_proj$/, '');
        sites.push({ ...common, target, hfModule, rows, conv1d: b.transpose === true });
      }
    }
  });
  return sites;
}

/** The last component of a Hugging Face module name (`c_attn`, `q_proj`). */
export function hfLeaf(hfModule: string): string {
  return hfModule.slice(hfModule.lastIndexOf('.') + 1);
}

/** Whether target name `name` selects `site`: its short name, its layer's name, or its HF module's leaf name. */
export function siteMatches(site: LoRASite, name: string): boolean {
  return (
    name === site.target || name === site.key || (site.hfModule !== null && name === hfLeaf(site.hfModule))
  );
}

/** The target names `model` accepts, for error messages: short names, then Hugging Face names. */
export function validTargetNames(sites: readonly LoRASite[]): { short: string[]; hf: string[] } {
  const short = new Set<string>();
  const hf = new Set<string>();
  for (const s of sites) {
    short.add(s.key);
    short.add(s.target);
    if (s.hfModule) hf.add(hfLeaf(s.hfModule));
  }
  return { short: [...short], hf: [...hf].filter((n) => !short.has(n)) };
}
