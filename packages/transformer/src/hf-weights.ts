/**
 * The map between our parameters and Hugging Face tensor names, as a list of bindings: each HF
 * tensor is a view of one of our parameters (possibly a block of its rows, possibly
 * transposed). Saving reads the views; loading writes into them. One list serves both ways, so
 * they cannot disagree.
 *
 * - GPT2LMHeadModel: `transformer.wte`, `transformer.wpe`, `transformer.h.{i}.{ln_1, attn.c_attn,
 *   attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `transformer.ln_f`. GPT-2 uses `Conv1D`, which
 *   stores weights as [in, out]: the transpose of ours. `c_attn` is q, k, v along the output
 *   axis, which is exactly our fused `qkv`.
 * - LlamaForCausalLM: `model.embed_tokens`, `model.layers.{i}.{input_layernorm,
 *   self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj}`, `model.norm`,
 *   in `nn.Linear` layout [out, in]; q/k/v_proj are row blocks of our `qkv`. HF q/k weights are
 *   already in the rotate-half RoPE layout that we implement, so they need no permutation.
 * - Each block's feed-forward module names its own part (`FeedForward.hfBindings`): the `mlp.*`
 *   names above for the built-in GELU and SwiGLU modules, its own names for other kinds.
 * - `lm_head.weight` only when the head is not tied, as `save_pretrained` writes it.
 * - QK-norm gains (not in GPT-2 or Llama) are named `…attn.q_norm.weight` / `…attn.k_norm.weight`
 *   and `…self_attn.q_norm.weight` / `…self_attn.k_norm.weight` (the Qwen3 convention).
 */
import type { Parameter } from '@kiln/autograd';
import type { GPT } from './gpt.js';
import type { HFBinding } from './hf-binding.js';

// the binding helpers moved to hf-binding.ts (layers use them); importers of this file keep working
export { type HFBinding, hfShape, hfView } from './hf-binding.js';

/**
 * Every Hugging Face tensor of `model` with the parameter it maps to. GPT-2 names start with
 * `prefix` (default `transformer.`; the bare `GPT2Model` layout uses ``).
 */
export function hfBindings(model: GPT, prefix = 'transformer.'): HFBinding[] {
  return model.config.family === 'gpt2' ? gpt2Bindings(model, prefix) : llamaBindings(model);
}

function push(
  out: HFBinding[],
  name: string,
  param: Parameter | null | undefined,
  extra: Partial<HFBinding> = {},
): void {
  if (param) out.push({ name, param, ...extra });
}

function gpt2Bindings(model: GPT, prefix: string): HFBinding[] {
  const out: HFBinding[] = [];
  const T = { transpose: true };
  push(out, `${prefix}wte.weight`, model.tokenEmbedding.weight);
  push(out, `${prefix}wpe.weight`, model.positionEmbedding?.weight);
  model.blocks.forEach((b, i) => {
    const p = `${prefix}h.${i}.`;
    push(out, `${p}ln_1.weight`, b.norm1.weight);
    push(out, `${p}ln_1.bias`, 'bias' in b.norm1 ? b.norm1.bias : null);
    push(out, `${p}attn.c_attn.weight`, b.attn.qkv.weight, T);
    push(out, `${p}attn.c_attn.bias`, b.attn.qkv.bias);
    push(out, `${p}attn.q_norm.weight`, b.attn.qNorm?.weight);
    push(out, `${p}attn.k_norm.weight`, b.attn.kNorm?.weight);
    push(out, `${p}attn.c_proj.weight`, b.attn.o.weight, T);
    push(out, `${p}attn.c_proj.bias`, b.attn.o.bias);
    push(out, `${p}ln_2.weight`, b.norm2.weight);
    push(out, `${p}ln_2.bias`, 'bias' in b.norm2 ? b.norm2.bias : null);
    out.push(...b.mlp.hfBindings(p, 'gpt2'));
  });
  push(out, `${prefix}ln_f.weight`, model.norm.weight);
  push(out, `${prefix}ln_f.bias`, 'bias' in model.norm ? model.norm.bias : null);
  if (!model.config.tieEmbeddings) push(out, 'lm_head.weight', model.head.weight);
  return out;
}

function llamaBindings(model: GPT): HFBinding[] {
  const out: HFBinding[] = [];
  const { nHeads, nKvHeads, dModel } = model.config;
  const hd = dModel / nHeads;
  const blocks: [string, [number, number]][] = [
    ['q_proj', [0, nHeads * hd]],
    ['k_proj', [nHeads * hd, (nHeads + nKvHeads) * hd]],
    ['v_proj', [(nHeads + nKvHeads) * hd, (nHeads + 2 * nKvHeads) * hd]],
  ];
  push(out, 'model.embed_tokens.weight', model.tokenEmbedding.weight);
  model.blocks.forEach((b, i) => {
    const p = `model.layers.${i}.`;
    push(out, `${p}input_layernorm.weight`, b.norm1.weight);
    for (const [name, rows] of blocks) {
      push(out, `${p}self_attn.${name}.weight`, b.attn.qkv.weight, { rows });
      push(out, `${p}self_attn.${name}.bias`, b.attn.qkv.bias, { rows });
    }
    push(out, `${p}self_attn.q_norm.weight`, b.attn.qNorm?.weight);
    push(out, `${p}self_attn.k_norm.weight`, b.attn.kNorm?.weight);
    push(out, `${p}self_attn.o_proj.weight`, b.attn.o.weight);
    push(out, `${p}self_attn.o_proj.bias`, b.attn.o.bias);
    push(out, `${p}post_attention_layernorm.weight`, b.norm2.weight);
    out.push(...b.mlp.hfBindings(p, 'llama'));
  });
  push(out, 'model.norm.weight', model.norm.weight);
  if (!model.config.tieEmbeddings) push(out, 'lm_head.weight', model.head.weight);
  return out;
}

/**
 * Tensors in Hugging Face checkpoints that are not parameters and are skipped on load: GPT-2's
 * causal-mask buffers (`attn.bias`, `attn.masked_bias`) and Llama's `rotary_emb.inv_freq`.
 */
export function isIgnoredHFBuffer(name: string): boolean {
  return /(^|\.)attn\.(masked_)?bias$/.test(name) || /rotary_emb\.inv_freq$/.test(name);
}
