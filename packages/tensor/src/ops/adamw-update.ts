/**
 * A multi-tensor AdamW step in place: one fused kernel per tensor where the backend has it
 * (`Backend.adamwUpdate`), otherwise the same sequence of ops written back with `assign`.
 */
import type { AdamWScalars } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { full } from './create.js';
import { where } from './elementwise.js';
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
    lr: h.lr,
    step: h.step,
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

/** Options of {@link adamwUpdate}. */
export interface AdamWUpdateOptions {
  /**
   * A float32 tensor of 2 elements, [skip, step], read on the device: when skip ≠ 0 nothing
   * changes (parameters and moments); otherwise the bias corrections are for `step` (the 1-based
   * step count kept on the device). `hyper.step` is then the host's expectation of it: when the
   * two agree the step is bit for bit the one without control, otherwise the bias corrections
   * are computed on the device (in float32). This is how a mixed-precision
   * step whose gradients overflowed is skipped without reading the overflow flag back (as
   * PyTorch's fused AdamW takes `found_inf`).
   */
  control?: Tensor;
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
  options: AdamWUpdateOptions = {},
): void {
  const n = params.length;
  const { control } = options;
  if (control && (control.dtype !== 'float32' || control.size !== 2))
    throw new RangeError(
      `adamwUpdate: control must be a float32 tensor of 2 elements [skip, step], got ${control.dtype} ${fmtShape(control.shape)}`,
    );
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
    const inputs = control ? [p, g, mi, vi, control] : [p, g, mi, vi];
    dispatch('adamwUpdate', inputs, {}, () => {
      if (be.adamwUpdate) {
        withTemps((tmp) => {
          const gc = tmp(contiguous(g));
          const cc = control && tmp(contiguous(control.reshape([2])));
          be.adamwUpdate!(p.view_(), gc.view_(), mi.view_(), vi.view_(), s, cc?.view_());
        });
        for (const t of [p, mi, vi]) t.storage.version++; // as assign does
      } else if (control) {
        withTemps((tmp) => {
          // the same step with the bias corrections from the device step count, then kept only
          // where skip is 0
          const flat = tmp(control.reshape([2]));
          const keepOld = tmp(tmp(tmp(flat.narrow(0, 0, 1)).reshape([])).ne(0));
          const t = tmp(tmp(flat.narrow(0, 1, 1)).reshape([]));
          const c1 = tmp(tmp(tmp(tmp(full([], s.beta1, { backend: be })).pow(t)).neg()).add(1));
          const c2 = tmp(tmp(tmp(tmp(full([], s.beta2, { backend: be })).pow(t)).neg()).add(1));
          const asHost = tmp(t.eq(s.step));
          const size = tmp(where(asHost, s.stepSize, tmp(tmp(tmp(c1.reciprocal()).mul(s.lr)).cast(p.dtype))));
          const sqrtC2 = tmp(where(asHost, s.sqrtC2, tmp(tmp(c2.sqrt()).cast(p.dtype))));
          const mn = tmp(tmp(mi.mul(s.beta1)).add(tmp(g.mul(s.oneMinusBeta1))));
          const vn = tmp(tmp(vi.mul(s.beta2)).add(tmp(tmp(g.square()).mul(s.oneMinusBeta2))));
          const denom = tmp(tmp(tmp(vn.sqrt()).div(sqrtC2)).add(s.eps));
          const pn = tmp(tmp(p.mul(s.decay)).sub(tmp(tmp(mn.div(denom)).mul(size))));
          // each `where` is computed into a new tensor before the write, so reading the old
          // value in it is safe
          mi.assign(tmp(where(keepOld, mi, mn)));
          vi.assign(tmp(where(keepOld, vi, vn)));
          p.assign(tmp(where(keepOld, p, pn)));
        });
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
