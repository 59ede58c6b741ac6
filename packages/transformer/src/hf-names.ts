/**
 * The Kiln ↔ Hugging Face parameter-name map as plain data, for people converting checkpoints
 * with other tools (a Python script, another framework): which Hugging Face tensor is which
 * Kiln parameter, which rows of it, and whether it is stored transposed. It is the same list
 * `saveModel` / `loadModel` use (`hfBindings`), with parameters replaced by their names.
 *
 * The fused attention projection: Kiln stores q, k and v of a block as one `blocks.{i}.attn.qkv`
 * Linear, weight `[(nHeads + 2·nKvHeads)·headDim, dModel]`, rows in the order **q, k, v**
 * (queries for every head, then keys for every KV head, then values). Llama's
 * `self_attn.q_proj` / `k_proj` / `v_proj` are row blocks `[0, nHeads·hd)`, `[nHeads·hd,
 * (nHeads + nKvHeads)·hd)`, `[(nHeads + nKvHeads)·hd, (nHeads + 2·nKvHeads)·hd)`; GPT-2's
 * `attn.c_attn.weight` is the whole `qkv` transposed (`Conv1D` stores `[in, out]`, q, k, v along
 * the output axis). Llama's q/k rows are already in the rotate-half RoPE layout Kiln uses, so no
 * permutation is needed. A tied head has no `lm_head.weight` entry: it is `tokenEmbedding.weight`.
 */
import type { GPT } from './gpt.js';
import { hfShape } from './hf-binding.js';
import { hfBindings } from './hf-weights.js';

/** One Hugging Face tensor and the Kiln parameter it is (part of). */
export interface HFNameMapEntry {
  /** The Hugging Face tensor name, e.g. `model.layers.0.self_attn.k_proj.weight`. */
  hf: string;
  /** The Kiln parameter name (`model.namedParameters()`), e.g. `blocks.0.attn.qkv.weight`. */
  kiln: string;
  /** The Hugging Face tensor's shape. */
  hfShape: number[];
  /** The Kiln parameter's shape. */
  kilnShape: number[];
  /** The Hugging Face tensor is rows `[start, end)` of the Kiln parameter (a block of the fused qkv). */
  rows?: [number, number];
  /** The Hugging Face tensor is the Kiln parameter (or its rows) transposed (GPT-2's `Conv1D`). */
  transpose?: boolean;
}

/**
 * Every Hugging Face tensor of `model`'s checkpoint with the Kiln parameter it maps to, in the
 * order `saveModel` writes them (see the file comment for the fused qkv layout). GPT-2 names
 * start with `prefix` (default `transformer.`, as `GPT2LMHeadModel`).
 *
 * ```ts
 * for (const e of hfNameMap(new GPT(config))) console.log(e.hf, '←', e.kiln, e.rows ?? '', e.transpose ? 'ᵀ' : '');
 * ```
 */
export function hfNameMap(model: GPT, prefix?: string): HFNameMapEntry[] {
  const names = new Map<unknown, string>();
  for (const [name, p] of model.namedParameters()) if (!names.has(p)) names.set(p, name);
  return hfBindings(model, prefix).map((b) => {
    const kiln = names.get(b.param);
    if (kiln === undefined)
      throw new Error(`hfNameMap: ${b.name} maps to a tensor that is not a parameter of the model`);
    return {
      hf: b.name,
      kiln,
      hfShape: hfShape(b),
      kilnShape: [...b.param.shape],
      ...(b.rows ? { rows: [...b.rows] as [number, number] } : {}),
      ...(b.transpose ? { transpose: true } : {}),
    };
  });
}
