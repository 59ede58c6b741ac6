/**
 * Where each (token, choice) pair goes, computed on the device with static shapes so a forward
 * pass never waits for a read-back: the pairs in slot-major order (every token's first choice
 * before any second choice, as GShard prioritises), each pair's rank among the pairs of its
 * expert (a cumulative sum over a one-hot matrix), and the per-expert counts. Index math only:
 * no gradient flows through it.
 */
import { noGrad } from '@kiln/autograd';
import { oneHot, type Tensor } from '@kiln/tensor';

/** The R = N·k routed pairs of one forward pass. */
export interface Assignments {
  /** Tokens N. */
  tokens: number;
  /** Choices per token k. */
  topK: number;
  /** Experts E. */
  experts: number;
  /** int32 `[R]`: the expert of pair `a = j·N + n` (token n's j-th choice). */
  expert: Tensor;
  /** float `[R, E]`: one-hot of `expert` (zero rows for padding pairs). */
  oneHot: Tensor;
  /** float `[R]`: how many earlier pairs (in slot-major order) chose the same expert (−1 for padding pairs). */
  rank: Tensor;
  /** float `[E]`: pairs per expert (real tokens only). */
  counts: Tensor;
}

/**
 * Plans the pairs of `experts [N, k]` (int32, from the router) over `E` experts. With `mask`
 * (float `[N]`, 1 = real token), padding pairs get a zero one-hot row: they are not counted and
 * take no rank (capacity dispatch then drops them instead of giving them slots).
 */
export function planAssignments(experts: Tensor, E: number, mask?: Tensor | null): Assignments {
  return noGrad(() => {
    const [N, k] = experts.shape;
    const expert = experts.T.contiguous().reshape([N * k]);
    let hot = oneHot(expert, E, { dtype: 'float32' });
    if (mask) hot = hot.mul(pairRows(mask.reshape([N, 1]), k));
    // inclusive running count of each expert, read at the pair's own expert, minus itself
    const rank = hot.cumsum(0).mul(hot).sum(1).sub(1);
    return { tokens: N, topK: k, experts: E, expert, oneHot: hot, rank, counts: hot.sum(0) };
  });
}

/** `x [N, d]` repeated once per choice, in the pairs' slot-major order: `[N·k, d]`. */
export function pairRows(x: Tensor, topK: number): Tensor {
  const [N, d] = x.shape;
  return topK === 1
    ? x
    : x
        .unsqueeze(0)
        .expand([topK, N, d])
        .reshape([topK * N, d]);
}
