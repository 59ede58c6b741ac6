/**
 * `Parameter`: a trainable tensor. It is a `Tensor` (a subclass, so it works in every op) that
 * is a leaf of the graph while `requiresGrad`, and has a `.grad` that `backward()` accumulates
 * into until it is zeroed.
 */
import { isFloat, keep, secondCopyHint, Tensor, zeros } from '@kiln/tensor';
import { AutogradError } from './errors.js';
import { makeLeaf, type Ref, restoreRef } from './graph.js';
import { noGrad } from './mode.js';

/** Options of {@link Parameter}. */
export interface ParameterOptions {
  /** Whether backward computes a gradient for it (default true). */
  requiresGrad?: boolean;
}

/**
 * A contiguous copy of `data` in the backend's long-lived parameter pool (weights outlive
 * every activation; keeping them apart keeps the activation pool reusable). `data` is disposed.
 */
function adopt(data: Tensor): Tensor {
  if (!(data instanceof Tensor)) throw new TypeError(`Parameter: expected a Tensor${secondCopyHint()}`);
  data.assertAlive('Parameter');
  const owned = zeros(data.shape, { dtype: data.dtype, backend: data.backend, usage: 'parameter' });
  noGrad(() => owned.assign(data));
  data.dispose();
  return owned;
}

/**
 * A trainable tensor: `new Parameter(randn([4, 4], { std: 0.1 }))`.
 *
 * The constructor takes ownership of `data`: its values are copied into the backend's
 * long-lived parameter pool (contiguous) and the handle you pass is disposed. Parameters are
 * long-lived: an enclosing `scope()` does not dispose them; `dispose()` them (or the Module that
 * holds them) when done.
 *
 * `.grad` is `null` until a `backward()` reaches the parameter, then accumulates (`+=`) across
 * backward calls until `zeroGrad()`. The functional `grad()` never writes `.grad`.
 */
export class Parameter extends Tensor {
  /** Accumulated gradient (same shape and dtype), or null. Owned by the parameter. */
  grad: Tensor | null = null;
  #ref: Ref | null = null;

  constructor(data: Tensor, options: ParameterOptions = {}) {
    const owned = adopt(data);
    super(owned.storage, owned.shape, owned.dtype, owned.strides, owned.offset);
    keep(this);
    owned.dispose(); // this handle now holds the storage
    this.requiresGrad = options.requiresGrad ?? true;
  }

  /** Whether backward computes a gradient for this parameter (frozen parameters: false). */
  get requiresGrad(): boolean {
    return this.#ref !== null;
  }

  set requiresGrad(value: boolean) {
    if (value === this.requiresGrad) return;
    if (value) {
      if (!isFloat(this.dtype))
        throw new AutogradError(
          `Parameter: a ${this.dtype} parameter cannot require grad; only float tensors have gradients`,
        );
      this.#ref = makeLeaf(this, 'parameter');
    } else {
      restoreRef(this, this.#ref!);
      this.#ref = null;
    }
  }

  /** Disposes `.grad` and sets it to null. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Releases the parameter and its gradient. */
  override dispose(): void {
    this.zeroGrad();
    super.dispose();
  }

  /** `Parameter(Tensor([2,3], float32, cpu))`. */
  override toString(): string {
    return `Parameter(${super.toString()})`;
  }
}
