// An "optimizer" that changes nothing and keeps a copy of every gradient it is stepped with, so
// tests can read the exact gradients a training step produced.
import type { Parameter } from '@kiln/autograd';
import { keep, type Tensor } from '@kiln/tensor';
import { type Hyperparameters, Optimizer, type ParamsInput } from '../../src/index.js';

export class GradCapture extends Optimizer {
  readonly kind = 'grad-capture';
  /** The gradients of the last step, by parameter name. */
  readonly grads = new Map<string, Tensor>();

  constructor(params: ParamsInput) {
    super(params, { lr: 0, weightDecay: 0 }, 'GradCapture');
  }

  /** The captured gradients as plain arrays, in parameter order. */
  async read(): Promise<Record<string, number[]>> {
    const out: Record<string, number[]> = {};
    for (const [name, g] of this.grads) out[name] = Array.from(await g.data());
    return out;
  }

  dispose(): void {
    for (const g of this.grads.values()) g.dispose();
    this.grads.clear();
  }

  protected slotNames(): string[] {
    return [];
  }

  protected hyperparameters(): Hyperparameters {
    return {};
  }

  protected updateParameter(name: string, _p: Parameter, grad: Tensor): void {
    this.grads.get(name)?.dispose();
    this.grads.set(name, keep(grad.mul(1)));
  }
}
