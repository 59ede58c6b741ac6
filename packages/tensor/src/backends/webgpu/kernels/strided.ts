/**
 * Strided walks: how elementwise-style kernels find each operand's element for a flat index.
 *
 * Shapes and strides travel in the uniform block, so one compiled kernel serves every shape of
 * a given rank: pipelines are keyed by op, dtypes and rank, never by shape. (A pipeline costs
 * tens of milliseconds to compile on a software adapter, so a model must not compile one per
 * shape.) Dimensions that all operands walk in lock-step are merged first with `collapseDims`,
 * so contiguous operands become rank 1 and broadcast or transposed ones rank 2 or 3.
 *
 * Ranks up to {@link UNROLLED_RANK} get straight-line index arithmetic; higher ranks share one
 * variant with a loop over a runtime rank (llvmpipe compiles that loop about twice as slowly,
 * and such views are rare after merging).
 */
import type { View } from '../../../backend.js';
import { BackendError } from '../../../errors.js';
import { collapseDims } from '../../../shape.js';

/** Most dimensions a walk can have after merging (views beyond that are not supported). */
export const MAX_RANK = 8;

/** A walk over `shape` in row-major order, reading several strided operands. */
export interface StridedWalk {
  shape: number[];
  /** One stride list per operand. */
  strides: number[][];
  offsets: number[];
}

/** Merges the dimensions of `shape` that every operand walks in lock-step. */
export function collapse(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
): StridedWalk {
  const c = collapseDims(shape, strides);
  if (c.shape.length > MAX_RANK) {
    throw new BackendError(
      `webgpu: a view with ${c.shape.length} dimensions that cannot be merged (shape [${shape}]) exceeds the ` +
        `${MAX_RANK} the kernels support; make it contiguous first`,
    );
  }
  return { shape: c.shape, strides: c.strides, offsets: [...offsets] };
}

/** Collapses a walk over views that share `shape` (e.g. out and its broadcast inputs). */
export function collapseViews(shape: readonly number[], views: readonly View[]): StridedWalk {
  return collapse(
    shape,
    views.map((v) => v.strides),
    views.map((v) => v.offset),
  );
}

/** Ranks that get unrolled index arithmetic. */
export const UNROLLED_RANK = 4;

/** Which code variant a walk uses: its rank (0 counts as 1) up to {@link UNROLLED_RANK}, else `n`. */
export type WalkVariant = number | 'n';

/** The variant for `walk` (part of every pipeline key that uses a walk). */
export function walkVariant(walk: StridedWalk): WalkVariant {
  const rank = Math.max(1, walk.shape.length);
  return rank <= UNROLLED_RANK ? rank : 'n';
}

/** Uniform words of a walk over `operands`: rank, shape, strides (MAX_RANK each), offsets. */
export function walkWords(operands: number): number {
  return 1 + MAX_RANK * (1 + operands) + operands;
}

/** Appends a walk's words (layout of {@link walkOffsets}). */
export function packWalk(words: number[], walk: StridedWalk): void {
  const pad = (list: readonly number[]) => {
    for (let d = 0; d < MAX_RANK; d++) words.push(list[d] ?? 0);
  };
  words.push(walk.shape.length);
  pad(walk.shape);
  for (const s of walk.strides) pad(s);
  words.push(...walk.offsets);
}

/**
 * WGSL statements declaring `var <prefix>0 .. <prefix>{operands-1}: u32`, the element offsets
 * of each operand for flat index `index`, from a walk packed at uniform word `base`.
 */
export function walkOffsets(
  operands: number,
  base: number,
  index: string,
  variant: WalkVariant,
  prefix = 'off',
): string {
  const shapeAt = base + 1;
  const strideAt = (k: number) => base + 1 + MAX_RANK * (1 + k);
  const offsetAt = (k: number) => base + 1 + MAX_RANK * (1 + operands) + k;
  const ks = Array.from({ length: operands }, (_, k) => k);
  const lines = ks.map((k) => `var ${prefix}${k}: u32 = p(${offsetAt(k)}u);`);
  lines.push(`var ${prefix}_rem: u32 = ${index};`);
  if (variant === 'n') {
    // dims rank-1 .. 1; dim 0 takes what is left
    lines.push(`for (var dd = p(${base}u); dd > 1u; dd = dd - 1u) {`);
    lines.push(`  let d = dd - 1u;`);
    lines.push(`  let size = p(${shapeAt}u + d);`);
    lines.push(`  let c = ${prefix}_rem % size;`);
    lines.push(`  ${prefix}_rem = ${prefix}_rem / size;`);
    for (const k of ks) lines.push(`  ${prefix}${k} += c * p(${strideAt(k)}u + d);`);
    lines.push('}');
  } else {
    for (let d = variant - 1; d >= 1; d--) {
      lines.push(
        `{ let c = ${prefix}_rem % p(${shapeAt + d}u); ${prefix}_rem = ${prefix}_rem / p(${shapeAt + d}u);`,
      );
      for (const k of ks) lines.push(`  ${prefix}${k} += c * p(${strideAt(k) + d}u);`);
      lines.push('}');
    }
  }
  // rank 0 has stride words of 0, so this also serves it
  for (const k of ks) lines.push(`${prefix}${k} += ${prefix}_rem * p(${strideAt(k)}u);`);
  return lines.join('\n  ');
}
