/**
 * Capacity dispatch (Switch Transformer, GShard): every expert has C = ceil(capacityFactor ·
 * N·k / E) slots. Pairs fill their expert's slots in slot-major order; pairs past the last slot
 * are dropped: their rows go to a discarded overflow row, they get a zero output, and the token
 * passes through the block's residual. The experts then run as one batched product over
 * `[E, C, d]` slabs.
 */
import { noGrad } from '@kiln/autograd';
import { concat, logicalAnd, scatterAdd, type Tensor, where, zeros } from '@kiln/tensor';
import { type Assignments, pairRows } from './assignments.js';
import type { Experts } from './experts.js';

/** What {@link dispatchCapacity} returns. */
export interface CapacityResult {
  /** `[N·k, d]` expert output per pair (zero rows for dropped pairs). */
  pairs: Tensor;
  /** float `[E]`: dropped pairs per expert (no gradient). */
  dropped: Tensor;
  /** Slots per expert. */
  capacity: number;
}

/** Slots per expert for `pairs` routed pairs over `experts` experts. */
export function expertCapacity(pairs: number, experts: number, capacityFactor: number): number {
  return Math.max(1, Math.ceil((capacityFactor * pairs) / experts));
}

/** Runs `x [N, d]` through its experts with fixed capacity. */
export function dispatchCapacity(
  x: Tensor,
  plan: Assignments,
  experts: Experts,
  capacityFactor: number,
): CapacityResult {
  const { tokens: N, topK: k, experts: E } = plan;
  const d = x.shape[1];
  const C = expertCapacity(N * k, E, capacityFactor);
  const { dest, dropped } = noGrad(() => {
    // a padding pair has rank −1 (no one-hot row): it is dropped, and not counted as dropped
    const real = plan.oneHot.sum(1).gt(0);
    const kept = logicalAnd(plan.rank.lt(C), real);
    // slot e·C + rank for kept pairs; the overflow row E·C for dropped ones
    const slot = plan.expert.cast('float32').mul(C).add(plan.rank);
    const dest = where(kept, slot, E * C).cast('int32');
    const dropped = plan.oneHot.mul(kept.logicalNot().cast('float32').unsqueeze(1)).sum(0);
    return { dest, dropped };
  });
  const index = dest.unsqueeze(1).expand([N * k, d]);
  const slots = scatterAdd(
    zeros([E * C + 1, d], { backend: x.backend, dtype: x.dtype }),
    0,
    index,
    pairRows(x, k),
  );
  const out = experts.forwardSlabs(slots.slice(0, 0, E * C).reshape([E, C, d])).reshape([E * C, d]);
  const withOverflow = concat([out, zeros([1, d], { backend: x.backend, dtype: x.dtype })], 0);
  return { pairs: withOverflow.indexSelect(0, dest), dropped, capacity: C };
}
