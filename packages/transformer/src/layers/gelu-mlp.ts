import { Module } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import { type HFBinding, type HFNaming, linearHFBindings } from '../hf-binding.js';
import type { FeedForward, FeedForwardContext, FeedForwardLayerOptions } from './feed-forward.js';
import { Linear } from './linear.js';

/**
 * GPT-2's feed-forward network: `proj(gelu(fc(x)))` with the tanh approximation of GELU.
 * Parameters `fc` (`dModel → dFF`) and `proj` (`dFF → dModel`).
 *
 * Hugging Face names: `mlp.c_fc` / `mlp.c_proj` in GPT-2's `Conv1D` layout (`[in, out]`) under
 * `gpt2` naming; `mlp.up_proj` / `mlp.down_proj` in `nn.Linear` layout (a Llama MLP without the
 * gate) under `llama` naming.
 */
export class GeluMLP extends Module implements FeedForward {
  /** `dModel → dFF`. */
  fc: Linear;
  /** `dFF → dModel`. */
  proj: Linear;

  constructor(
    readonly dModel: number,
    readonly dFF: number,
    options: FeedForwardLayerOptions = {},
  ) {
    super();
    const inner = { bias: options.bias ?? true, backend: options.backend };
    this.fc = new Linear(dModel, dFF, inner);
    this.proj = new Linear(dFF, dModel, { ...inner, std: options.outputStd });
  }

  /** `x [..., dModel]` → `[..., dModel]`; it reports nothing, so the context is unused. */
  forward(x: Tensor, _context?: FeedForwardContext): Tensor {
    // the activation runs in fc's matmul epilogue
    return scope(() => this.proj.forward(this.fc.forward(x, 'geluTanh')));
  }

  /** See {@link FeedForward.hfBindings}. */
  hfBindings(prefix: string, naming: HFNaming): HFBinding[] {
    if (naming === 'gpt2') {
      return [
        ...linearHFBindings(`${prefix}mlp.c_fc`, this.fc, { transpose: true }),
        ...linearHFBindings(`${prefix}mlp.c_proj`, this.proj, { transpose: true }),
      ];
    }
    return [
      ...linearHFBindings(`${prefix}mlp.up_proj`, this.fc),
      ...linearHFBindings(`${prefix}mlp.down_proj`, this.proj),
    ];
  }
}
