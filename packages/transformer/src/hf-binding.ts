/**
 * One entry of the Hugging Face name map: a Hugging Face tensor as a view of one of our
 * parameters. Layers build the bindings of their own parameters (a block's feed-forward module
 * names its part), and `hf-weights.ts` assembles a model's list from them.
 */
import { noGrad, type Parameter } from '@kiln/autograd';
import type { Backend, Tensor } from '@kiln/tensor';
import { type ParsedSafetensors, tensorsFromSafetensors } from '@kiln/tensor/safetensors';
import type { Linear } from './layers/linear.js';

/**
 * Which Hugging Face naming a module's bindings follow: `gpt2` (`GPT2LMHeadModel`: `Conv1D`
 * weights stored `[in, out]`) or `llama` (`LlamaForCausalLM`: `nn.Linear` weights `[out, in]`).
 */
export type HFNaming = 'gpt2' | 'llama';

/** One Hugging Face tensor as a view of one of our parameters. */
export interface HFBinding {
  /** Hugging Face name. */
  name: string;
  /** Our parameter. */
  param: Parameter;
  /** The HF tensor is rows [start, end) of the parameter (split of the fused qkv). */
  rows?: [number, number];
  /** The HF tensor is stored transposed ([in, out], GPT-2 Conv1D). */
  transpose?: boolean;
}

/**
 * Copies each binding's tensor from parsed safetensors into its parameter (float16 files become
 * float32), one tensor at a time so that loading needs memory for the model plus one tensor.
 * `fileOf(name)` is the parsed file holding `name` (a sharded checkpoint has several); the caller
 * has checked that every name is there with its {@link hfShape}.
 */
export function assignHFTensors(
  bindings: readonly HFBinding[],
  fileOf: (name: string) => ParsedSafetensors,
  backend: Backend,
): void {
  noGrad(() => {
    for (const b of bindings) {
      const [src] = Object.values(
        tensorsFromSafetensors(fileOf(b.name), { names: [b.name], float16: 'float32', backend }),
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
}

/** The shape of a binding's tensor in the Hugging Face layout. */
export function hfShape(b: HFBinding): number[] {
  const shape = [...b.param.shape];
  if (b.rows) shape[0] = b.rows[1] - b.rows[0];
  return b.transpose ? shape.reverse() : shape;
}

/** A view of the parameter in the Hugging Face layout (caller disposes the view, not the parameter). */
export function hfView(b: HFBinding): Tensor {
  const base = b.rows ? b.param.slice(0, b.rows[0], b.rows[1]) : b.param.alias();
  if (!b.transpose) return base;
  const t = base.T;
  base.dispose();
  return t;
}

/**
 * The bindings of a `Linear` named `name` (e.g. `model.layers.0.mlp.up_proj`): `name.weight`
 * and, when the layer has one, `name.bias`. `transpose` stores the weight `[in, out]` (GPT-2's
 * `Conv1D`); the bias is 1-D either way.
 */
export function linearHFBindings(
  name: string,
  layer: Linear,
  options: { transpose?: boolean } = {},
): HFBinding[] {
  const out: HFBinding[] = [
    { name: `${name}.weight`, param: layer.weight, ...(options.transpose ? { transpose: true } : {}) },
  ];
  if (layer.bias) out.push({ name: `${name}.bias`, param: layer.bias });
  return out;
}
