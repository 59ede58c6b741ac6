/**
 * Rotary position embeddings (RoPE) in the Hugging Face "rotate-half" layout: dimension i of a
 * head is paired with dimension i + headDim/2, and each pair is rotated by the angle
 * position · θ^(−2i/headDim). Hugging Face Llama checkpoints store q/k projections for this
 * layout, so their weights load without permutation.
 */
import { type Backend, concat, type DType, scope, type Tensor, tensor } from '@kiln/tensor';

/** cos and signed-sin tables for a run of positions, `[T, headDim]` each, ready for {@link applyRope}. */
export interface RopeTables {
  cos: Tensor;
  /** sin with the first half negated: `rotateHalf(x) · sin` = `swapHalves(x) · signedSin`. */
  signedSin: Tensor;
}

/**
 * Host-side tables for positions 0 … maxPositions−1, computed with float32 rounding at each step
 * as PyTorch does (`1 / θ^(2i/d)`, then `position · invFreq`), so the angles match a PyTorch or
 * Hugging Face model bit for bit before the final cos/sin.
 */
export class RotaryEmbedding {
  readonly #cos: Float32Array;
  readonly #signedSin: Float32Array;

  constructor(
    readonly headDim: number,
    readonly maxPositions: number,
    readonly theta = 10000,
  ) {
    if (headDim % 2 !== 0) throw new RangeError(`RotaryEmbedding: headDim must be even, got ${headDim}`);
    const half = headDim / 2;
    const f = Math.fround;
    const invFreq = Array.from({ length: half }, (_, i) => f(1 / f(theta ** f(f(2 * i) / headDim))));
    this.#cos = new Float32Array(maxPositions * headDim);
    this.#signedSin = new Float32Array(maxPositions * headDim);
    for (let p = 0; p < maxPositions; p++) {
      for (let i = 0; i < half; i++) {
        const angle = f(p * invFreq[i]);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const row = p * headDim;
        this.#cos[row + i] = c;
        this.#cos[row + half + i] = c;
        this.#signedSin[row + i] = -s;
        this.#signedSin[row + half + i] = s;
      }
    }
  }

  /** Tables for positions `start … start+length−1` on `backend` in `dtype`. */
  tables(start: number, length: number, backend: Backend, dtype: DType): RopeTables {
    if (!Number.isInteger(start) || start < 0 || start + length > this.maxPositions) {
      throw new RangeError(
        `RotaryEmbedding: positions ${start}…${start + length - 1} are outside the table of ${this.maxPositions} positions`,
      );
    }
    const rows = (table: Float32Array) =>
      tensor(table.subarray(start * this.headDim, (start + length) * this.headDim), {
        shape: [length, this.headDim],
        backend,
        dtype,
      });
    return { cos: rows(this.#cos), signedSin: rows(this.#signedSin) };
  }

  /**
   * Tables for a position per token: int32 `positions [B, T]` (each in 0 … maxPositions−1;
   * packed documents restart at 0) → `[B, 1, T, headDim]` each, broadcasting over the heads of
   * `[B, H, T, headDim]` queries and keys.
   */
  tablesAt(positions: Tensor, dtype: DType): RopeTables {
    if (positions.dtype !== 'int32' || positions.ndim !== 2)
      throw new RangeError(
        `RotaryEmbedding: positions must be int32 [batch, time], got ${positions.dtype} [${positions.shape}]`,
      );
    const [B, T] = positions.shape;
    return scope(() => {
      const flat = positions.reshape([B * T]);
      // the whole table is small (maxPositions × headDim); gathering its rows keeps the positions on the device
      const rows = (table: Float32Array) =>
        tensor(table, { shape: [this.maxPositions, this.headDim], backend: positions.backend, dtype })
          .indexSelect(0, flat)
          .reshape([B, 1, T, this.headDim]);
      return { cos: rows(this.#cos), signedSin: rows(this.#signedSin) };
    });
  }
}

/** Rotates `x [..., T, headDim]` by the tables for its T positions: `x·cos + swapHalves(x)·signedSin`. */
export function applyRope(x: Tensor, rope: RopeTables): Tensor {
  return scope(() => {
    const half = x.shape[x.ndim - 1] / 2;
    const swapped = concat([x.slice(-1, half), x.slice(-1, 0, half)], -1);
    return x.mul(rope.cos).add(swapped.mul(rope.signedSin));
  });
}
