import { Module } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import type { LayerOptions } from './init.js';
import { Linear } from './linear.js';

/** Options of {@link MLP}. */
export interface MLPOptions extends LayerOptions {
  /** `gelu`: fc → GELU (tanh approximation) → proj (GPT-2); `swiglu`: down(silu(gate(x)) · up(x)) (Llama). */
  activation: 'gelu' | 'swiglu';
  /** Biases on the projections (default true). */
  bias?: boolean;
  /** Init std of the output projection (default 0.02; GPT scales it by 1/sqrt(2·nLayers)). */
  outputStd?: number;
}

/** The position-wise feed-forward network of a transformer block. */
export class MLP extends Module {
  /** GELU: `dModel → dFF`. */
  fc: Linear | null = null;
  /** GELU: `dFF → dModel`. */
  proj: Linear | null = null;
  /** SwiGLU: gate `dModel → dFF`. */
  gate: Linear | null = null;
  /** SwiGLU: up `dModel → dFF`. */
  up: Linear | null = null;
  /** SwiGLU: down `dFF → dModel`. */
  down: Linear | null = null;
  readonly activation: 'gelu' | 'swiglu';

  constructor(
    readonly dModel: number,
    readonly dFF: number,
    options: MLPOptions,
  ) {
    super();
    this.activation = options.activation;
    const inner = { bias: options.bias ?? true, backend: options.backend };
    const outer = { ...inner, std: options.outputStd };
    if (options.activation === 'gelu') {
      this.fc = new Linear(dModel, dFF, inner);
      this.proj = new Linear(dFF, dModel, outer);
    } else if (options.activation === 'swiglu') {
      this.gate = new Linear(dModel, dFF, inner);
      this.up = new Linear(dModel, dFF, inner);
      this.down = new Linear(dFF, dModel, outer);
    } else {
      throw new RangeError(
        `MLP: activation must be 'gelu' or 'swiglu', got ${JSON.stringify(options.activation)}`,
      );
    }
  }

  /** `x [..., dModel]` → `[..., dModel]`. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      // the activations run in the projections' matmul epilogues
      if (this.fc && this.proj) return this.proj.forward(this.fc.forward(x, 'gelu_tanh'));
      return this.down!.forward(this.gate!.forward(x, 'silu').mul(this.up!.forward(x)));
    });
  }
}
