/**
 * The gradient of an embedding lookup (`indexSelect` on axis 0) with respect to the table: a
 * deterministic fused kernel where the backend has it, else a scatter-add.
 */
import { dispatch } from '../dispatch.js';
import { fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { scatterAdd } from './indexing.js';
import { empty, requireFloat, requireIndex, withTemps } from './util.js';
import { contiguous, expand, reshape } from './views.js';

/**
 * Gradient of `indexSelect(x, 0, index)` (an embedding lookup) with respect to x [numRows, ...]:
 * out[id] = Σ g[i] over positions with index[i] = id. The fused kernel sums each id's positions
 * in order (deterministic, no float atomics); otherwise it is a scatter-add.
 */
export function embeddingBackward(g: Tensor, index: Tensor, numRows: number): Tensor {
  requireFloat('embeddingBackward', g);
  requireIndex('embeddingBackward', 'index', index);
  if (index.ndim !== 1 || g.ndim < 1 || g.shape[0] !== index.shape[0])
    throw new ShapeError(
      `embeddingBackward: index must be 1-D and match g's first dimension, got index ${fmtShape(index.shape)} and g ${fmtShape(g.shape)}`,
    );
  const rest = g.shape.slice(1);
  const N = index.shape[0];
  const D = rest.reduce((a, b) => a * b, 1);
  return dispatch('embeddingBackward', [g, index], { numRows }, () =>
    withTemps((tmp) => {
      const be = g.backend;
      const out = empty(be, [numRows, ...rest], g.dtype);
      if (out.size > 0) be.fill(out.view_(), 0);
      if (N === 0 || D === 0) return out;
      if (be.embeddingBackward) {
        const gc = tmp(contiguous(tmp(reshape(g, [N, D]))));
        const ic = tmp(contiguous(index));
        const scratch = tmp(empty(be, [2 * N], 'int32'));
        be.embeddingBackward(
          gc.view_(),
          ic.view_(),
          scratch.view_(),
          tmp(reshape(out, [numRows, D])).view_(),
        );
        return out;
      }
      const idx = tmp(expand(tmp(reshape(index, [N, ...rest.map(() => 1)])), g.shape));
      const res = scatterAdd(out, 0, idx, g);
      out.dispose();
      return res;
    }),
  );
}
