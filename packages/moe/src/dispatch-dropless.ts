/**
 * Dropless dispatch (MegaBlocks' idea, our own code): the pairs are sorted by expert into rows
 * padded per expert to a multiple of the block size b, so every block of b rows belongs to one
 * expert, and one batched product over all blocks (each with its expert's gathered weights) runs
 * every expert on exactly its tokens: no capacity, nothing dropped. Shapes are static (the row
 * count is the bound R + E·(b−1), rounded to blocks), so the forward pass never reads back;
 * the cost is at most E·(b−1) padded rows and one weight gather per block.
 */
import { noGrad } from '@kiln/autograd';
import { arange, ceil, scatterAdd, type Tensor, zeros } from '@kiln/tensor';
import { type Assignments, pairRows } from './assignments.js';
import type { Experts } from './experts.js';

/** Blocks of `blockSize` rows needed for `pairs` pairs over `experts` experts, in the worst case. */
export function droplessBlocks(pairs: number, experts: number, blockSize: number): number {
  return Math.floor((pairs + experts * (blockSize - 1)) / blockSize);
}

/** The sorted layout: each pair's row and each block's expert. */
export interface DroplessLayout {
  /** int32 `[R]`: the sorted row of each pair. */
  dest: Tensor;
  /** int32 `[nb]`: the expert owning each block (trailing empty blocks: the last expert, on zero rows). */
  owner: Tensor;
  /** Blocks nb. */
  blocks: number;
}

/** Computes the sorted, block-padded layout of the pairs (index math on the device). */
export function droplessLayout(plan: Assignments, blockSize: number): DroplessLayout {
  const { tokens: N, topK: k, experts: E } = plan;
  const b = blockSize;
  const nb = droplessBlocks(N * k, E, b);
  return noGrad(() => {
    const padded = ceil(plan.counts.div(b)).mul(b);
    const ends = padded.cumsum(0);
    const starts = ends.sub(padded);
    const dest = starts.indexSelect(0, plan.expert).add(plan.rank).cast('int32');
    // block i starts at row i·b; its expert is the number of experts that end at or before it
    const blockStart = arange(0, nb * b, b, { backend: plan.counts.backend, dtype: 'float32' });
    const owner = ends
      .unsqueeze(0)
      .le(blockStart.unsqueeze(1))
      .cast('float32')
      .sum(1)
      .clamp(0, E - 1)
      .cast('int32');
    return { dest, owner, blocks: nb };
  });
}

/** Runs `x [N, d]` through its experts without dropping: `[N·k, d]` expert output per pair. */
export function dispatchDropless(x: Tensor, plan: Assignments, experts: Experts, blockSize: number): Tensor {
  const { tokens: N, topK: k } = plan;
  const d = x.shape[1];
  const { dest, owner, blocks } = droplessLayout(plan, blockSize);
  const rows = blocks * blockSize;
  const index = dest.unsqueeze(1).expand([N * k, d]);
  const sorted = scatterAdd(
    zeros([rows, d], { backend: x.backend, dtype: x.dtype }),
    0,
    index,
    pairRows(x, k),
  );
  const out = experts.forwardBlocks(sorted.reshape([blocks, blockSize, d]), owner).reshape([rows, d]);
  return out.indexSelect(0, dest);
}
