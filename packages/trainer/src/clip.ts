/**
 * Gradient norms and clipping by global norm. Everything stays on the device: the norm comes
 * back as a 0-d tensor, to be read (with the loss) only when the trainer logs.
 */
import { noGrad, type Parameter } from '@kiln/autograd';
import { div, keep, scope, stack, type Tensor, zeros } from '@kiln/tensor';

function gradsOf(params: Iterable<Parameter>, who: string): Tensor[] {
  const grads: Tensor[] = [];
  for (const p of params) {
    if (p.grad === null) continue;
    if (p.grad.dtype !== 'float32' && p.grad.dtype !== 'float16') {
      throw new TypeError(`${who}: gradients must be float tensors, got ${p.grad.dtype}`);
    }
    grads.push(p.grad);
  }
  return grads;
}

/**
 * The global L2 norm of the gradients, `√(Σ ‖g‖²)` over every parameter whose `.grad` is set,
 * as a 0-d float32 tensor that the caller owns. 0 when no parameter has a gradient.
 */
export function gradNorm(params: Iterable<Parameter>): Tensor {
  const grads = gradsOf(params, 'gradNorm');
  return noGrad(() =>
    scope(() => {
      if (grads.length === 0) return zeros([]);
      const squares = grads.map((g) => (g.dtype === 'float32' ? g : g.cast('float32')).square().sum());
      return stack(squares).sum().sqrt();
    }),
  );
}

/**
 * Scales the gradients (replacing each `.grad`) so that their global norm is at most `maxNorm`, and returns the
 * norm measured before clipping (a 0-d tensor the caller owns). As in PyTorch's
 * `clip_grad_norm_`, the factor is `min(1, maxNorm / (norm + 1e-6))` and is applied on the
 * device, so nothing is read back. A NaN or infinite norm makes the gradients NaN; the trainer
 * detects that from the returned norm.
 */
export function clipGradNorm(params: Iterable<Parameter>, maxNorm: number): Tensor {
  if (!(typeof maxNorm === 'number' && maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new RangeError(`clipGradNorm: maxNorm must be a positive finite number, got ${String(maxNorm)}`);
  }
  const list = [...params];
  const norm = gradNorm(list);
  noGrad(() =>
    scope(() => {
      const factor = div(maxNorm, norm.add(1e-6)).clamp(undefined, 1);
      for (const p of list) {
        const g = p.grad;
        if (g === null) continue;
        // A new gradient tensor rather than an in-place write: one kernel instead of two.
        p.grad = keep(g.mul(g.dtype === factor.dtype ? factor : factor.cast(g.dtype)));
        g.dispose();
      }
    }),
  );
  return norm;
}
