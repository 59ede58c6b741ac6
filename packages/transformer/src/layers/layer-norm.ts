import { Module, type Parameter } from '@kiln/autograd';
import { layerNorm, type Tensor } from '@kiln/tensor';
import { constantParameter, type LayerOptions } from './init.js';

/** Options of {@link LayerNorm}. */
export interface LayerNormOptions extends LayerOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learned bias (default true). */
  bias?: boolean;
}

/** Layer normalisation over the last dimension with a learned gain (init 1) and optional bias (init 0). */
export class LayerNorm extends Module {
  /** `[dim]`. */
  weight: Parameter;
  /** `[dim]`, or null. */
  bias: Parameter | null;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: LayerNormOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.weight = constantParameter([dim], 1, options);
    this.bias = (options.bias ?? true) ? constantParameter([dim], 0, options) : null;
  }

  /** `x [..., dim]` → normalised `x`, same shape. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, { eps: this.eps });
  }
}
