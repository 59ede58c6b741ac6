/**
 * Strided walks: how elementwise-style kernels find each operand's element for a flat index.
 *
 * Shapes, strides and the rank travel in the uniform block, so one compiled kernel serves every
 * shape: pipelines are keyed by op and dtypes, never by shape or rank. (Each pipeline costs tens
 * of milliseconds to compile on a software adapter, so a model must not compile one per shape.)
 * Dimensions that all operands walk in lock-step are merged first with `collapseDims`, so
 * contiguous and simply broadcast operands become rank 1, which gets a loop-free variant.
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
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[], offsets: readonly number[]): StridedWalk {
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

/** True when the walk needs no index arithmetic beyond `offset + i · stride`. */
export function isFlat(walk: StridedWalk): boolean {
  return walk.shape.length <= 1;
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
 * `flat` selects the loop-free variant for walks of rank ≤ 1.
 */
export function walkOffsets(operands: number, base: number, index: string, flat: boolean, prefix = 'off'): string {
  const shapeAt = base + 1;
  const strideAt = (k: number) => base + 1 + MAX_RANK * (1 + k);
  const offsetAt = (k: number) => base + 1 + MAX_RANK * (1 + operands) + k;
  const ks = Array.from({ length: operands }, (_, k) => k);
  const lines = ks.map((k) => `var ${prefix}${k}: u32 = p(${offsetAt(k)}u);`);
  if (flat) {
    // rank 0 has stride words of 0, so the same expression serves it
    for (const k of ks) lines.push(`${prefix}${k} += ${index} * p(${strideAt(k)}u);`);
    return lines.join('\n  ');
  }
  lines.push(`var ${prefix}_rem: u32 = ${index};`);
  lines.push(`for (var d = p(${base}u) - 1u; d > 0u; d = d - 1u) {`);
  lines.push(`  let size = p(${shapeAt}u + d);`);
  lines.push(`  let c = ${prefix}_rem % size;`);
  lines.push(`  ${prefix}_rem = ${prefix}_rem / size;`);
  for (const k of ks) lines.push(`  ${prefix}${k} += c * p(${strideAt(k)}u + d);`);
  lines.push('}');
  for (const k of ks) lines.push(`${prefix}${k} += ${prefix}_rem * p(${strideAt(k)}u);`);
  return lines.join('\n  ');
}
