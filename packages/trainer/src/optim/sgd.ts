/**
 * Stochastic gradient descent with optional momentum (heavy-ball or Nesterov) and L2 weight
 * decay, following PyTorch's `torch.optim.SGD` (1.13) operation by operation.
 */
import type { Parameter } from '@kiln/autograd';
import { type Tensor, where } from '@kiln/tensor';
import type { ParamsInput } from './named-params.js';
import { type Hyperparameters, Optimizer, type UpdateContext } from './optimizer.js';

/** Options of {@link SGD}. */
export interface SGDOptions {
  /** Learning rate (default 1e-2); usually overwritten every step from a schedule. */
  lr?: number;
  /** Momentum factor (default 0: plain SGD). */
  momentum?: number;
  /** Dampening of the momentum's gradient term (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (coupled, as in PyTorch's SGD), for groups that do not set their own (default 0). */
  weightDecay?: number;
}

/**
 * SGD. For each parameter with gradient `g`:
 *
 * ```text
 * d ← g + weightDecay · p
 * b ← d on the first step, else momentum · b + (1 − dampening) · d     (with momentum)
 * d ← d + momentum · b  (nesterov)   or   d ← b
 * p ← p − lr · d
 * ```
 *
 * State per parameter (with momentum): `momentum_buffer`.
 */
export class SGD extends Optimizer {
  /** `sgd`. */
  readonly kind = 'sgd';
  /** Momentum factor. */
  readonly momentum: number;
  /** Dampening. */
  readonly dampening: number;
  /** Nesterov momentum. */
  readonly nesterov: boolean;
  /** Default weight decay (groups may override it). */
  readonly weightDecay: number;

  /** Creates the optimizer for `params` (parameters, named parameters or groups). */
  constructor(params: ParamsInput, options: SGDOptions = {}) {
    const { lr = 1e-2, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = options;
    super(params, { lr, weightDecay }, 'SGD');
    if (!(Number.isFinite(momentum) && momentum >= 0))
      throw new RangeError(`SGD: momentum must be ≥ 0, got ${momentum}`);
    if (!(Number.isFinite(dampening) && dampening >= 0))
      throw new RangeError(`SGD: dampening must be ≥ 0, got ${dampening}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError('SGD: nesterov momentum needs momentum > 0 and dampening 0');
    }
    this.momentum = momentum;
    this.dampening = dampening;
    this.nesterov = nesterov;
    this.weightDecay = weightDecay;
  }

  protected override slotNames(): string[] {
    return ['momentum_buffer'];
  }

  protected override hyperparameters(): Hyperparameters {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
    };
  }

  protected override updateParameter(name: string, p: Parameter, grad: Tensor, context: UpdateContext): void {
    const { lr, weightDecay, control } = context;
    const c = (value: number) => this.scalar(value, p);
    // A device-skippable step (mixed precision): every write keeps the old value where skip ≠ 0.
    // (A skip before the momentum buffer's first step leaves it at zeros; with dampening 0, the
    // default, the next step's buffer is the gradient as in PyTorch, otherwise it is damped once.)
    const skip = control ? control.narrow(0, 0, 1).reshape([]).ne(0) : undefined;
    const guarded = (old: Tensor, next: Tensor) => (skip ? where(skip, old, next) : next);
    let direction = weightDecay !== 0 ? grad.add(p.mul(c(weightDecay))) : grad;
    if (this.momentum !== 0) {
      let buffer: Tensor;
      if (this.hasState(name, 'momentum_buffer')) {
        const old = this.state(name, 'momentum_buffer', p);
        buffer = guarded(old, old.mul(c(this.momentum)).add(direction.mul(c(1 - this.dampening))));
        this.setState(name, 'momentum_buffer', buffer);
      } else {
        // PyTorch starts the buffer at the first gradient itself (a copy), not at zero.
        const zero = this.state(name, 'momentum_buffer', p);
        buffer = zero.assign(guarded(zero, direction));
      }
      direction = this.nesterov ? direction.add(buffer.mul(c(this.momentum))) : buffer;
    }
    p.assign(guarded(p, p.sub(direction.mul(c(lr)))));
  }
}
