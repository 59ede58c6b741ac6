import { Module, type Parameter } from '@kiln/autograd';
import { rmsNorm, type Tensor } from '@kiln/tensor';
import { constantParameter, type LayerOptions } from './init.js';

/** Options of {@link RMSNorm}. */
export interface RMSNormOptions extends LayerOptions {
  /** Added to the mean square (default 1e-5). */
  eps?: number;
}

/** RMS normalisation over the last dimension, `x / sqrt(mean(x²) + eps) · weight`, gain init 1 (Llama). */
export class RMSNorm extends Module {
  /** `[dim]`. */
  weight: Parameter;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: RMSNormOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.weight = constantParameter([dim], 1, options);
  }

  /** `x [..., dim]` → normalised `x`, same shape. */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, { eps: this.eps });
  }
}
