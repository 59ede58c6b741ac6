/**
 * The weighted combine: each pair's expert output row times its gate weight, summed over a
 * token's k choices (`combineRows`: one kernel, deterministic, gradients to the rows and to the
 * gates, so the router learns). A dropped pair has slot −1 and adds nothing (the token keeps
 * its residual and its other experts' outputs).
 */
import { combineRows, type Tensor } from '@kiln/tensor';

/** `rows [R, d]` (expert outputs), `slots` int32 `[N, k]` and `gates [N, k]` → `[N, d]`. */
export function combineSlots(rows: Tensor, slots: Tensor, gates: Tensor): Tensor {
  return combineRows(rows, slots, gates);
}
