/**
 * The order rows are visited in each epoch: a seeded shuffle that is a pure function of
 * `(seed, epoch)`, so a data position is two integers and resume needs no stored permutation.
 */
import { WindowSampler } from '../data/window-sampler.js';

/**
 * The permutation of `0 … count−1` for `epoch` (Fisher–Yates over the draws of a
 * `WindowSampler` at counter `epoch · count`, so epochs use disjoint draws), or the identity
 * when `shuffle` is false.
 */
export function epochOrder(count: number, epoch: number, seed: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!shuffle) return order;
  const sampler = new WindowSampler({ seed, counter: epoch * count });
  for (let i = count - 1; i > 0; i--) {
    const j = sampler.nextInt(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
