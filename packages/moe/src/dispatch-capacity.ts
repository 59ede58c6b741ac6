/**
 * Capacity dispatch (Switch Transformer, GShard): every expert has C = ceil(capacityFactor ·
 * N·k / E) slots. Pairs fill their expert's slots in slot-major order; pairs past the last slot
 * are dropped: their slot is −1, so `dispatchRows` sends nothing and the combine adds nothing,
 * and the token passes through the block's residual. The experts then run as one batched
 * product over `[E, C, d]` slabs.
 */
import { noGrad } from '@kiln/autograd';
import { dispatchRows, logicalAnd, type Tensor, where } from '@kiln/tensor';
import type { Assignments } from './assignments.js';
import type { DispatchResult } from './dispatch-dropless.js';
import type { Experts } from './experts.js';

/** What {@link dispatchCapacity} returns. */
export interface CapacityResult extends DispatchResult {
  /** float `[E]`: dropped pairs per expert (no gradient). */
  dropped: Tensor;
  /** Slots per expert. */
  capacity: number;
}

/** Slots per expert for `pairs` routed pairs over `experts` experts. */
export function expertCapacity(pairs: number, experts: number, capacityFactor: number): number {
  return Math.max(1, Math.ceil((capacityFactor * pairs) / experts));
}

/** Runs `x [N, d]` through its experts with fixed capacity: `[E·C, d]` slab rows. */
export function dispatchCapacity(
  x: Tensor,
  plan: Assignments,
  experts: Experts,
  capacityFactor: number,
): CapacityResult {
  const { tokens: N, topK: k, experts: E } = plan;
  const d = x.shape[1];
  const C = expertCapacity(N * k, E, capacityFactor);
  const { slots, dropped } = noGrad(() => {
    // a padding pair has rank −1 (no one-hot row): it is dropped, and not counted as dropped
    const real = plan.oneHot.sum(1).gt(0);
    const kept = logicalAnd(plan.rank.lt(C), real);
    // slot e·C + rank for kept pairs; −1 (no row) for dropped ones
    const slot = plan.expert.cast('float32').mul(C).add(plan.rank);
    const slots = where(kept, slot, -1).reshape([k, N]).T.contiguous().cast('int32');
    const dropped = plan.oneHot.mul(kept.logicalNot().cast('float32').unsqueeze(1)).sum(0);
    return { slots, dropped };
  });
  const slabs = dispatchRows(x, slots, E * C).reshape([E, C, d]);
  const rows = experts.forwardSlabs(slabs).reshape([E * C, d]);
  return { rows, slots, dropped, capacity: C };
}
