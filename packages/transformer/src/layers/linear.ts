import { isGradEnabled, isTracked, Module, type Parameter } from '@kiln/autograd';
import { type MatmulActivation, matmulEpilogue, scope, type Tensor } from '@kiln/tensor';
import { constantParameter, type LayerOptions, normalParameter } from './init.js';

/** Options of {@link Linear}. */
export interface LinearOptions extends LayerOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** Standard deviation of the normal weight init (default 0.02, as GPT-2). */
  std?: number;
  /** Use this existing `[outFeatures, inFeatures]` parameter as the weight (weight tying) instead of creating one. */
  weight?: Parameter;
}

/**
 * `y = x Wᵀ + b` over the last dimension. The weight is stored `[outFeatures, inFeatures]` as in
 * PyTorch's `nn.Linear` (so Hugging Face Llama weights load as they are); the bias starts at 0.
 */
export class Linear extends Module {
  /** `[outFeatures, inFeatures]`. */
  weight: Parameter;
  /** `[outFeatures]`, or null without bias. */
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    if (
      options.weight &&
      (options.weight.shape[0] !== outFeatures || options.weight.shape[1] !== inFeatures)
    ) {
      throw new RangeError(
        `Linear: a shared weight must be [${outFeatures}, ${inFeatures}] ([out, in]), got [${options.weight.shape}]`,
      );
    }
    this.weight = options.weight ?? normalParameter([outFeatures, inFeatures], options.std ?? 0.02, options);
    this.bias = (options.bias ?? true) ? constantParameter([outFeatures], 0, options) : null;
  }

  /**
   * `x [..., inFeatures]` → `activation(x Wᵀ + b)` `[..., outFeatures]`: the bias and the
   * activation are fused into the matmul's store (`matmulEpilogue`; backends without the
   * kernel compose the same ops). Under grad mode the value before the activation is kept for
   * backward, which then does not recompute the product.
   */
  forward(x: Tensor, activation: MatmulActivation = 'none'): Tensor {
    return scope(() => {
      const wt = this.weight.T; // a transposed view: the kernels read it in place
      // a plain product gains nothing from an epilogue (and keeps matmul's own rule)
      if (!this.bias && activation === 'none') return x.matmul(wt);
      const keepPreActivation =
        activation !== 'none' &&
        isGradEnabled() &&
        [x, this.weight, this.bias].some((t) => t !== null && isTracked(t));
      return matmulEpilogue(x, wt, { bias: this.bias, activation, keepPreActivation });
    });
  }
}
