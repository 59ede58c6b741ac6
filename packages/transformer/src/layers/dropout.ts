import { Module } from '@kiln/autograd';
import { rand, scope, type Tensor } from '@kiln/tensor';

/**
 * Inverted dropout: in training mode each element is zeroed with probability `p` and the rest
 * are scaled by 1/(1−p), so evaluation needs no rescaling; in eval mode (or with p = 0) it is
 * the identity. Masks come from the seeded generator (`manualSeed`), so runs are reproducible
 * and `recompute` can replay them.
 */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  /** `x` with dropout applied in training mode; `x` itself otherwise. */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return scope(() => {
      const keepMask = rand(x.shape, { backend: x.backend, dtype: x.dtype }).ge(this.p);
      return x.mul(keepMask.cast(x.dtype).mul(1 / (1 - this.p)));
    });
  }
}
