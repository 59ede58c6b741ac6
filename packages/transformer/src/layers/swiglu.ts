import { Module } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import { type HFBinding, type HFNaming, linearHFBindings } from '../hf-binding.js';
import type { FeedForward, FeedForwardContext, FeedForwardLayerOptions } from './feed-forward.js';
import { Linear } from './linear.js';

/**
 * Llama's gated feed-forward network: `down(silu(gate(x)) · up(x))`. Parameters `gate` and `up`
 * (`dModel → dFF`) and `down` (`dFF → dModel`).
 *
 * Hugging Face names: `mlp.gate_proj`, `mlp.up_proj`, `mlp.down_proj` in `nn.Linear` layout
 * (`[out, in]`) under either naming (GPT-2 has no gated MLP to borrow names from).
 */
export class SwiGLU extends Module implements FeedForward {
  /** `dModel → dFF`, through SiLU. */
  gate: Linear;
  /** `dModel → dFF`. */
  up: Linear;
  /** `dFF → dModel`. */
  down: Linear;

  constructor(
    readonly dModel: number,
    readonly dFF: number,
    options: FeedForwardLayerOptions = {},
  ) {
    super();
    const inner = { bias: options.bias ?? true, backend: options.backend };
    this.gate = new Linear(dModel, dFF, inner);
    this.up = new Linear(dModel, dFF, inner);
    this.down = new Linear(dFF, dModel, { ...inner, std: options.outputStd });
  }

  /** `x [..., dModel]` → `[..., dModel]`; it reports nothing, so the context is unused. */
  forward(x: Tensor, _context?: FeedForwardContext): Tensor {
    // SiLU runs in gate's matmul epilogue
    return scope(() => this.down.forward(this.gate.forward(x, 'silu').mul(this.up.forward(x))));
  }

  /** See {@link FeedForward.hfBindings}. */
  hfBindings(prefix: string, _naming: HFNaming): HFBinding[] {
    return [
      ...linearHFBindings(`${prefix}mlp.gate_proj`, this.gate),
      ...linearHFBindings(`${prefix}mlp.up_proj`, this.up),
      ...linearHFBindings(`${prefix}mlp.down_proj`, this.down),
    ];
  }
}
