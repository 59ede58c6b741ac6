/**
 * The uniform words every matmul kernel variant reads, so variants are interchangeable for the
 * same operands: sizes, the first batch of the dispatch, and offset + batch/row/column strides
 * of A and B (batch stride 0 for a broadcast operand; transposed operands are just strides).
 */
import type { MatmulEpilogue, View } from '../../../backend.js';

/**
 * Word positions. A and B each take 4 words: offset, batch stride, row stride, column stride.
 * The last three belong to the epilogue (matmul-epilogue.ts): bias offset and stride, and the
 * distance from out to preActivation.
 */
export const P = {
  M: 0,
  N: 1,
  K: 2,
  BATCH0: 3,
  A: 4,
  B: 8,
  OUT: 12,
  EXTRA: 13,
  BIAS: 14,
  BIAS_STRIDE: 15,
  PRE_DELTA: 16,
} as const;

/** Words in the block (one spare word, {@link P.EXTRA}, for a variant's own constant). */
export const MATMUL_WORDS = 17;

/**
 * WGSL: the start of a tiled or band kernel's `main` (which names its workgroup id `wid`),
 * reading the sizes, the batch, and A's and B's batch base and row/column strides.
 */
export const MATMUL_PROLOGUE = `  let M = p(${P.M}u);
  let N = p(${P.N}u);
  let K = p(${P.K}u);
  let batch = wid.z + p(${P.BATCH0}u);
  let aBase = p(${P.A}u) + batch * p(${P.A + 1}u);
  let aRow = p(${P.A + 2}u);
  let aCol = p(${P.A + 3}u);
  let bBase = p(${P.B}u) + batch * p(${P.B + 1}u);
  let bRow = p(${P.B + 2}u);
  let bCol = p(${P.B + 3}u);`;

/**
 * Uniform words for `a` [B,M,K] @ `b` [B,K,N] → contiguous `out`, from batch `start`, with the
 * epilogue's words (zeros without one).
 */
export function matmulParams(
  a: View,
  b: View,
  out: View,
  start: number,
  extra = 0,
  epilogue?: MatmulEpilogue<unknown>,
): number[] {
  const [, m, k] = a.shape;
  const n = b.shape[2];
  const bias = epilogue?.bias as View | null | undefined;
  const pre = epilogue?.preActivation as View | null | undefined;
  // preActivation relative to out, wrapping in u32 so an earlier offset works too
  const epi = [bias?.offset ?? 0, bias?.strides[0] ?? 0, pre ? (pre.offset - out.offset) >>> 0 : 0];
  return [m, n, k, start, a.offset, ...a.strides, b.offset, ...b.strides, out.offset, extra, ...epi];
}

/**
 * Can the rows of a [B, R, C] operand be read as aligned 4-wide vectors along its last dimension
 * (unit column stride, C and every other stride and the offset multiples of 4)? The band kernels
 * ask this of A (vec4 along K), the subgroup kernels of B (4 adjacent columns per lane).
 */
export function innerVec4Aligned(v: View): boolean {
  const [, rowStride, colStride] = v.strides;
  return (
    colStride === 1 &&
    v.shape[2] % 4 === 0 &&
    rowStride % 4 === 0 &&
    batchStrideAligned(v) &&
    v.offset % 4 === 0
  );
}

/**
 * Is the batch stride a multiple of 4, or unused? A single batch's stride is never read (the
 * frontend gives a 2-D operand's [1, R, C] view a batch stride of 1), so it does not count.
 */
export function batchStrideAligned(v: View): boolean {
  return v.shape[0] === 1 || v.strides[0] % 4 === 0;
}
