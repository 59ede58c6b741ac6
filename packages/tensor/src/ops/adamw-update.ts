/**
 * A multi-tensor AdamW step in place: one fused kernel per tensor where the backend has it
 * (`Backend.adamwUpdate`), otherwise the same sequence of ops written back with `assign`.
 */
import type { AdamWScalars } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

/** Hyper-parameters of one {@link adamwUpdate} step. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count (for the bias corrections). */
  step: number;
}

/**
 * The scalars of one AdamW step, in the exact order the fused kernels and the composite use
 * them: p ← p·decay − stepSize · m / (sqrt(v)/sqrtC2 + eps), with decay = 1 − lr·wd,
 * stepSize = lr / (1 − β1ᵗ), sqrtC2 = sqrt(1 − β2ᵗ) (PyTorch's AdamW).
 */
export function adamwScalars(h: AdamWHyper): AdamWScalars {
  return {
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    decay: 1 - h.lr * h.weightDecay,
    stepSize: h.lr / (1 - h.beta1 ** h.step),
    sqrtC2: Math.sqrt(1 - h.beta2 ** h.step),
    eps: h.eps,
  };
}

/**
 * One AdamW step over many tensors, in place: for each i, m[i] ← β1·m + (1−β1)·g,
 * v[i] ← β2·v + (1−β2)·g², params[i] ← params[i]·(1 − lr·wd) − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps).
 * One dispatch per tensor on backends with the fused kernel (all scalars in its uniforms),
 * otherwise the same sequence of ops written back with `assign`. Run it under `noGrad`.
 */
export function adamwUpdate(
  params: Tensor[],
  grads: Tensor[],
  m: Tensor[],
  v: Tensor[],
  hyper: AdamWHyper,
): void {
  const n = params.length;
  if (grads.length !== n || m.length !== n || v.length !== n)
    throw new RangeError(
      `adamwUpdate: params, grads, m and v must have the same length (got ${n}, ${grads.length}, ${m.length}, ${v.length})`,
    );
  if (!(hyper.step >= 1)) throw new RangeError(`adamwUpdate: step must be ≥ 1 (1-based), got ${hyper.step}`);
  const s = adamwScalars(hyper);
  for (let i = 0; i < n; i++) {
    const [p, g, mi, vi] = [params[i], grads[i], m[i], v[i]];
    requireFloat('adamwUpdate', p);
    for (const t of [g, mi, vi]) {
      sameDType('adamwUpdate', p, t);
      if (t.shape.join() !== p.shape.join())
        throw new ShapeError(
          `adamwUpdate: tensor ${i}: shapes ${fmtShape(p.shape)} and ${fmtShape(t.shape)} differ`,
        );
    }
    for (const t of [p, mi, vi])
      if (!t.isContiguous)
        throw new ShapeError(
          `adamwUpdate: tensor ${i}: parameters and moments must be contiguous (updated in place)`,
        );
    if (p.size === 0) continue;
    const be = p.backend;
    // composite: hooks see no op of its own (its outputs are its inputs, updated in place); the
    // fallback's writes are reported as `assign`s, exactly like a hand-written optimizer's
    dispatch('adamwUpdate', [p, g, mi, vi], {}, () => {
      if (be.adamwUpdate) {
        withTemps((tmp) => {
          const gc = tmp(contiguous(g));
          be.adamwUpdate!(p.view_(), gc.view_(), mi.view_(), vi.view_(), s);
        });
        for (const t of [p, mi, vi]) t.storage.version++; // as assign does
      } else {
        withTemps((tmp) => {
          const mn = tmp(tmp(mi.mul(s.beta1)).add(tmp(g.mul(s.oneMinusBeta1))));
          const vn = tmp(tmp(vi.mul(s.beta2)).add(tmp(tmp(g.square()).mul(s.oneMinusBeta2))));
          const denom = tmp(tmp(tmp(vn.sqrt()).div(s.sqrtC2)).add(s.eps));
          const pn = tmp(tmp(p.mul(s.decay)).sub(tmp(tmp(mn.div(denom)).mul(s.stepSize))));
          mi.assign(mn);
          vi.assign(vn);
          p.assign(pn);
        });
      }
      return [p, mi, vi];
    });
  }
}
