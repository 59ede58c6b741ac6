/**
 * Moving rows between tokens and expert slots, the permutation and combine of a mixture of
 * experts (MegaBlocks' gather and scatter). A token n with k choices has k slots
 * `slots[n, j]` (int32 `[N, k]`): rows of an expert-sorted (dropless) or per-expert-capacity
 * buffer, or −1 for a pair that has no row (dropped). Three ops, closed under
 * differentiation, each one kernel:
 *
 * - `dispatchRows`: tokens → slots (optionally scaled by gates);
 * - `combineRows`: slots → tokens, the gate-weighted sum over a token's choices;
 * - `slotDots`: the dot product of each token's row with each of its slots' rows (the gates'
 *   gradient of the other two).
 *
 * Each slot other than −1 must name a distinct row (a permutation, or distinct capacity
 * slots): `dispatchRows` writes rows without atomics. The CPU reference sums rows named twice.
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkIndexRange } from './indexing.js';
import { empty, requireFloat, requireIndex, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

/** Shapes, and slot values in [0, rows) or −1 (checked like every index op's: see `setIndexChecking`). */
function checkSlots(
  op: string,
  slots: Tensor,
  tokens: number,
  gates: Tensor | null | undefined,
  rows: number,
): void {
  requireIndex(op, 'slots', slots);
  if (slots.ndim !== 2 || slots.shape[0] !== tokens)
    throw new ShapeError(
      `${op}: slots must be [N, k] with N = ${tokens} tokens, got ${fmtShape(slots.shape)}`,
    );
  if (gates && (gates.ndim !== 2 || gates.shape[0] !== slots.shape[0] || gates.shape[1] !== slots.shape[1]))
    throw new ShapeError(
      `${op}: gates must be shaped like slots ${fmtShape(slots.shape)}, got ${fmtShape(gates.shape)}`,
    );
  checkIndexRange(op, slots, rows, -1);
}

function check2d(op: string, what: string, t: Tensor): void {
  requireFloat(op, t);
  if (t.ndim !== 2) throw new ShapeError(`${op}: ${what} must be 2-D [rows, D], got ${fmtShape(t.shape)}`);
}

/**
 * Sends token rows to their slots: `out[slots[n, j]] = gates[n, j] · x[n]` for `x [N, D]`,
 * `slots` int32 `[N, k]` and optional `gates [N, k]` → `[rows, D]`. Rows no slot names are zero;
 * slot −1 sends nothing. Slots other than −1 must be distinct and in [0, rows).
 *
 * ```ts
 * const sorted = dispatchRows(x, slots, N * k);       // each token's row at each of its k slots
 * ```
 */
export function dispatchRows(x: Tensor, slots: Tensor, rows: number, gates?: Tensor | null): Tensor {
  check2d('dispatchRows', 'x', x);
  if (!Number.isInteger(rows) || rows < 0)
    throw new RangeError(`dispatchRows: rows must be a non-negative integer, got ${rows}`);
  checkSlots('dispatchRows', slots, x.shape[0], gates, rows);
  if (gates) sameDType('dispatchRows', x, gates);
  const gated = !!gates;
  const inputs = gates ? [x, slots, gates] : [x, slots];
  return dispatch('dispatchRows', inputs, { rows, gated }, () =>
    withTemps((tmp) => {
      const be = x.backend;
      const out = empty(be, [rows, x.shape[1]], x.dtype);
      if (out.size === 0) return out;
      const [xc, sc] = [tmp(contiguous(x)), tmp(contiguous(slots))];
      const gc = gates ? tmp(contiguous(gates)).view_() : null;
      be.dispatchRows(xc.view_(), sc.view_(), gc, out.view_());
      return out;
    }),
  );
}

/**
 * The weighted combine: `out[n] = Σ_j gates[n, j] · y[slots[n, j]]` for `y [R, D]`, `slots`
 * int32 `[N, k]` and optional `gates [N, k]` (default 1) → `[N, D]`; slot −1 adds nothing (a
 * dropped pair: the token keeps its other experts and the residual). Gradients reach `y`
 * (a gated `dispatchRows`) and the gates (`slotDots`), which is how the router learns.
 */
export function combineRows(y: Tensor, slots: Tensor, gates?: Tensor | null): Tensor {
  check2d('combineRows', 'y', y);
  checkSlots('combineRows', slots, slots.shape[0], gates, y.shape[0]);
  if (gates) sameDType('combineRows', y, gates);
  const gated = !!gates;
  const inputs = gates ? [y, slots, gates] : [y, slots];
  return dispatch('combineRows', inputs, { gated }, () =>
    withTemps((tmp) => {
      const be = y.backend;
      const out = empty(be, [slots.shape[0], y.shape[1]], y.dtype);
      if (out.size === 0) return out;
      const [yc, sc] = [tmp(contiguous(y)), tmp(contiguous(slots))];
      const gc = gates ? tmp(contiguous(gates)).view_() : null;
      be.combineRows(yc.view_(), sc.view_(), gc, out.view_());
      return out;
    }),
  );
}

/**
 * `out[n, j] = x[n] · y[slots[n, j]]` (a dot product over D) for `x [N, D]`, `y [R, D]` and
 * `slots` int32 `[N, k]` → `[N, k]`; 0 for slot −1. The gates' gradient of
 * {@link combineRows} (x the output gradient) and of a gated {@link dispatchRows}.
 */
export function slotDots(x: Tensor, y: Tensor, slots: Tensor): Tensor {
  check2d('slotDots', 'x', x);
  check2d('slotDots', 'y', y);
  sameDType('slotDots', x, y);
  checkSlots('slotDots', slots, x.shape[0], null, y.shape[0]);
  if (x.shape[1] !== y.shape[1])
    throw new ShapeError(
      `slotDots: x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} need the same row width`,
    );
  return dispatch('slotDots', [x, y, slots], {}, () =>
    withTemps((tmp) => {
      const be = x.backend;
      const out = empty(be, slots.shape, x.dtype);
      if (out.size === 0) return out;
      if (x.shape[1] === 0) {
        be.fill(out.view_(), 0);
        return out;
      }
      const [xc, yc, sc] = [tmp(contiguous(x)), tmp(contiguous(y)), tmp(contiguous(slots))];
      be.slotDots(xc.view_(), yc.view_(), sc.view_(), out.view_());
      return out;
    }),
  );
}
