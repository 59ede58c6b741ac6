/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"): Adam's per-parameter
 * step sizes from running averages of the gradient and its square, with bias correction, and
 * weight decay applied to the weights directly instead of being added to the gradient.
 *
 * The arithmetic follows PyTorch's `torch.optim.AdamW` (1.13, single-tensor path) operation by
 * operation, so the two agree to float32 rounding (tested against values computed with torch).
 */
import type { Parameter } from '@kiln/autograd';
import { adamwUpdate, div, pow, type Tensor, where } from '@kiln/tensor';
import type { ParamsInput } from './named-params.js';
import { type Hyperparameters, Optimizer, type UpdateContext } from './optimizer.js';

/** Options of {@link AdamW}. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3); usually overwritten every step from a schedule. */
  lr?: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay for groups that do not set their own (default 0.01, as PyTorch). */
  weightDecay?: number;
}

/**
 * The AdamW optimizer. For each parameter with gradient `g`, at step `t`:
 *
 * ```text
 * p ← p · (1 − lr · weightDecay)
 * m ← β1 · m + (1 − β1) · g
 * v ← β2 · v + (1 − β2) · g²
 * p ← p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
 * ```
 *
 * ```ts
 * const opt = new AdamW(defaultParamGroups(model, { weightDecay: 0.1 }), { lr: 1e-3, betas: [0.9, 0.95] });
 * backward(loss); opt.lr = schedule(step); opt.step(); opt.zeroGrad();
 * ```
 *
 * State per parameter: `exp_avg` (m) and `exp_avg_sq` (v), created on the parameter's first
 * update, on its backend.
 */
export class AdamW extends Optimizer {
  /** `adamw`. */
  readonly kind = 'adamw';
  /** β1, β2. */
  readonly betas: readonly [number, number];
  /** Denominator epsilon. */
  readonly eps: number;
  /** Default weight decay (groups may override it). */
  readonly weightDecay: number;

  /** Creates the optimizer for `params` (parameters, named parameters or groups). */
  constructor(params: ParamsInput, options: AdamWOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01 } = options;
    super(params, { lr, weightDecay }, 'AdamW');
    if (
      !Array.isArray(betas) ||
      betas.length !== 2 ||
      !betas.every((b) => Number.isFinite(b) && b >= 0 && b < 1)
    ) {
      throw new RangeError(`AdamW: betas must be two numbers in [0, 1), got ${JSON.stringify(betas)}`);
    }
    if (!(Number.isFinite(eps) && eps >= 0))
      throw new RangeError(`AdamW: eps must be a finite number ≥ 0, got ${eps}`);
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  protected override slotNames(): string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  protected override hyperparameters(): Hyperparameters {
    return { betas: this.betas, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected override updateParameter(name: string, p: Parameter, grad: Tensor, context: UpdateContext): void {
    const { lr, weightDecay, step } = context;
    const [beta1, beta2] = this.betas;
    const m = this.state(name, 'exp_avg', p);
    const v = this.state(name, 'exp_avg_sq', p);
    if (p.isContiguous && m.isContiguous && v.isContiguous) {
      // One fused kernel per parameter (decay, both moments, the step), in place. Same
      // operation order as the composite path below, so results agree bit for bit on the CPU.
      const { control } = context;
      adamwUpdate([p], [grad], [m], [v], { lr, beta1, beta2, eps: this.eps, weightDecay, step }, { control });
      return;
    }
    this.#compositeUpdate(name, p, grad, m, v, context);
  }

  /** The same update written with tensor ops (for non-contiguous parameters or state). */
  #compositeUpdate(
    name: string,
    p: Parameter,
    grad: Tensor,
    m0: Tensor,
    v0: Tensor,
    context: UpdateContext,
  ): void {
    const { lr, weightDecay, step, control } = context;
    const [beta1, beta2] = this.betas;
    const c = (value: number) => this.scalar(value, p);
    // A device-skippable step (mixed precision): old values kept where skip ≠ 0, and the bias
    // corrections from the device's step count.
    const skip = control ? control.narrow(0, 0, 1).reshape([]).ne(0) : undefined;
    const guarded = (old: Tensor, next: Tensor) => (skip ? where(skip, old, next) : next);
    const m = guarded(m0, m0.mul(c(beta1)).add(grad.mul(c(1 - beta1))));
    const v = guarded(v0, v0.mul(c(beta2)).add(grad.square().mul(c(1 - beta2))));
    let stepSize: Tensor;
    let sqrtC2: Tensor;
    const hostStepSize = c(lr / (1 - beta1 ** step));
    const hostSqrtC2 = c(Math.sqrt(1 - beta2 ** step));
    if (control) {
      // the host's scalars when the device's count is the host's (no unread skip), else on the device
      const t = control.narrow(0, 1, 1).reshape([]);
      const asHost = t.eq(step);
      const one = (x: Tensor) => x.neg().add(1);
      stepSize = where(asHost, hostStepSize, div(lr, one(pow(beta1, t))).cast(p.dtype));
      sqrtC2 = where(asHost, hostSqrtC2, one(pow(beta2, t)).sqrt().cast(p.dtype));
    } else {
      stepSize = hostStepSize;
      sqrtC2 = hostSqrtC2;
    }
    const denominator = v.sqrt().div(sqrtC2).add(c(this.eps));
    // Decay first, then the Adam step, as PyTorch does in two in-place updates; one write here.
    const decayed = weightDecay !== 0 ? p.mul(c(1 - lr * weightDecay)) : p;
    const next = decayed.sub(m.div(denominator).mul(stepSize));
    this.setState(name, 'exp_avg', m);
    this.setState(name, 'exp_avg_sq', v);
    p.assign(guarded(p, next));
  }
}
