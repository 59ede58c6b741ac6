/**
 * The grouped product of a mixture of experts (MegaBlocks' idea): rows sorted by expert, each
 * run of rows multiplied by its own expert's matrix, the matrices read in place, no padding and
 * no per-group launch. The group sizes live on the device (`ends`, an inclusive running count),
 * so a forward pass never reads them back. Two ops, closed under differentiation:
 * `groupedMatmul` (the product, and with transposed weights its input gradient) and
 * `groupedOuter` (its weight gradient).
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkIndexRange } from './indexing.js';
import { empty, requireFloat, requireIndex, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

/** Shape, and end values in [0, rows] (checked like every index op's: see `setIndexChecking`). */
function checkEnds(op: string, ends: Tensor, rows: number): void {
  requireIndex(op, 'ends', ends);
  if (ends.ndim !== 1)
    throw new ShapeError(
      `${op}: ends must be 1-D [experts] (the inclusive running count of rows per group), got ${fmtShape(ends.shape)}`,
    );
  checkIndexRange(op, ends, rows + 1);
}

/**
 * Grouped matrix product: `x [R, K]` (rows sorted by group) times `w [E, K, M]`, one matrix per
 * group → `[R, M]`, where group e owns rows `[ends[e−1], ends[e])` (`ends` int32 `[E]`,
 * non-decreasing, at most R: the cumulative sum of the group sizes). Rows past `ends[E−1]` give
 * zero rows. Groups may be empty or of any size. `w` may be any strided view, so per-expert
 * `nn.Linear` weights `[E, M, K]` pass as `w.permute([0, 2, 1])` without a copy.
 *
 * ```ts
 * const ends = counts.cumsum(0).cast('int32');     // rows per expert → group ends
 * const y = groupedMatmul(sortedTokens, w1.reshape([E, f, d]).permute([0, 2, 1]), ends);
 * ```
 *
 * Ends from the host must lie in [0, R] (an error names the bad one); ends computed on the
 * device are checked with `setIndexChecking(true)`, else kernels clamp them to [0, R].
 * Decreasing ends give empty groups.
 */
export function groupedMatmul(x: Tensor, w: Tensor, ends: Tensor): Tensor {
  requireFloat('groupedMatmul', x);
  sameDType('groupedMatmul', x, w);
  if (x.ndim !== 2 || w.ndim !== 3 || w.shape[1] !== x.shape[1] || w.shape[0] !== ends.shape[0])
    throw new ShapeError(
      `groupedMatmul: expects x [R, K], w [E, K, M] and ends [E], got x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}, ends ${fmtShape(ends.shape)}`,
    );
  const [R, K] = x.shape;
  const M = w.shape[2];
  checkEnds('groupedMatmul', ends, R);
  return dispatch('groupedMatmul', [x, w, ends], {}, () =>
    withTemps((tmp) => {
      const be = x.backend;
      const out = empty(be, [R, M], x.dtype);
      if (out.size === 0) return out;
      if (K === 0 || w.shape[0] === 0) {
        be.fill(out.view_(), 0);
        return out;
      }
      const xc = tmp(contiguous(x));
      const ec = tmp(contiguous(ends));
      be.groupedMatmul(xc.view_(), w.view_(), ec.view_(), out.view_());
      return out;
    }),
  );
}

/**
 * Per-group sum of outer products: `out[e] = x[rows of e]ᵀ · y[rows of e]` for `x [R, K]`,
 * `y [R, M]` and `ends` int32 `[E]` (as for {@link groupedMatmul}) → `[E, K, M]`; an empty
 * group gives a zero matrix. It is the weight gradient of `groupedMatmul(x, w, ends)` for the
 * output gradient `y`.
 */
export function groupedOuter(x: Tensor, y: Tensor, ends: Tensor): Tensor {
  requireFloat('groupedOuter', x);
  sameDType('groupedOuter', x, y);
  requireIndex('groupedOuter', 'ends', ends);
  if (x.ndim !== 2 || y.ndim !== 2 || x.shape[0] !== y.shape[0])
    throw new ShapeError(
      `groupedOuter: expects x [R, K] and y [R, M] with the same rows, got x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)}`,
    );
  const [R, K] = x.shape;
  const M = y.shape[1];
  checkEnds('groupedOuter', ends, R);
  const E = ends.shape[0];
  return dispatch('groupedOuter', [x, y, ends], {}, () =>
    withTemps((tmp) => {
      const be = x.backend;
      const out = empty(be, [E, K, M], x.dtype);
      if (out.size === 0) return out;
      if (R === 0) {
        be.fill(out.view_(), 0);
        return out;
      }
      const xc = tmp(contiguous(x));
      const yc = tmp(contiguous(y));
      const ec = tmp(contiguous(ends));
      be.groupedOuter(xc.view_(), yc.view_(), ec.view_(), out.view_());
      return out;
    }),
  );
}
