/**
 * Dropless dispatch (MegaBlocks' idea, our own code): the pairs are sorted by expert with
 * `dispatchRows` (each token's row copied to its k sorted rows), every expert runs on exactly
 * its run of rows through the grouped product (`groupedMatmul`, which reads each expert's
 * weights in place and takes the runs' ends from the device), and the combine reads the rows
 * back through the same slots. No capacity, nothing dropped, no padding: R = N·k rows whatever
 * the routing, so shapes are static and the forward pass never reads back.
 */
import { noGrad } from '@kiln/autograd';
import { dispatchRows, type Tensor } from '@kiln/tensor';
import type { Assignments } from './assignments.js';
import type { Experts } from './experts.js';

/** The sorted layout of the pairs. */
export interface DroplessLayout {
  /** int32 `[N, k]`: the sorted row of token n's j-th choice (a permutation of [0, N·k)). */
  slots: Tensor;
  /** int32 `[E]`: where each expert's run of sorted rows ends (inclusive running count). */
  ends: Tensor;
}

/** What a dispatch returns: one expert output row per slot, and each pair's slot. */
export interface DispatchResult {
  /** `[rows, d]` expert outputs. */
  rows: Tensor;
  /** int32 `[N, k]`: the row of each (token, choice) pair, −1 for a dropped pair. */
  slots: Tensor;
}

/** Computes the expert-sorted layout of the pairs (index math on the device). */
export function droplessLayout(plan: Assignments): DroplessLayout {
  const { tokens: N, topK: k } = plan;
  return noGrad(() => {
    const ends = plan.counts.cumsum(0);
    const starts = ends.sub(plan.counts);
    // pair a = j·N + n goes to its expert's start plus its rank among that expert's pairs
    const dest = starts.indexSelect(0, plan.expert).add(plan.rank);
    const slots = dest.reshape([k, N]).T.contiguous().cast('int32');
    return { slots, ends: ends.cast('int32') };
  });
}

/** Runs `x [N, d]` through its experts without dropping: `[N·k, d]` expert-sorted output rows. */
export function dispatchDropless(x: Tensor, plan: Assignments, experts: Experts): DispatchResult {
  const { tokens: N, topK: k } = plan;
  const { slots, ends } = droplessLayout(plan);
  const sorted = dispatchRows(x, slots, N * k);
  return { rows: experts.forwardGrouped(sorted, ends), slots };
}
