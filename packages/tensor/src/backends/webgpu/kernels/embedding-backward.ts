/**
 * Deterministic embedding backward (index_select on axis 0 with repeated ids):
 * out[id] = Σ_{i : index[i] = id} g[i], summed in position order, without float atomics.
 *
 * The positions are sorted by (id, position), a key no two positions share, so the sorted order
 * is unique and does not depend on scheduling: first every block of {@link SORT_BLOCK} positions
 * ranks itself (each position counts the block's smaller keys), then ⌈log2(N / block)⌉ merge
 * passes each place every element at its rank in its own run plus its rank in the partner run
 * (a binary search). That is O(N·block + N·log²N) integer work in 2 + log2(N / block)
 * dispatches, against the O(N · distinct ids) of linking each position to its next occurrence
 * by a scan. A last kernel, one workgroup per 16 sorted positions, lets the first position of each
 * id's run sum the run's rows column by column in position order, so the result is bit-for-bit
 * the in-order sum. Rows no id selects keep the zeros the caller filled in; ids outside
 * [0, rows) are sorted like the others and skipped by the sum.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { buffer, dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, store, uniforms } from './wgsl.js';

/** Positions ranked by one workgroup of the first pass (and its workgroup size). */
export const SORT_BLOCK = 64;

/**
 * Lanes of the summing workgroups (columns run in strides of this). One 8-wide SIMD row on
 * lavapipe, which runs a workgroup's groups of 8 lanes one after the other, each repeating the
 * run bookkeeping: 64 lanes were 2–2.5× slower at 128–768 columns.
 */
const SUM_LANES = 8;

/**
 * Sorted positions per summing workgroup: one per position cost lavapipe ~2 µs per (mostly
 * idle) workgroup, 3× the sum itself at 2048 ids × 128 columns.
 */
const SUM_BLOCK = 16;

/** WGSL: `less(x, y)`, whether position x's key (ids[x], x) sorts before position y's. */
const LESS = `
fn less(x: u32, y: u32) -> bool {
  let a = ids[p(1u) + x];
  let b = ids[p(1u) + y];
  return a < b || (a == b && x < y);
}`;

/**
 * First pass: perm[block start + rank] = position, where rank counts the positions of the same
 * {@link SORT_BLOCK}-block with smaller keys; every block of `perm` (int32 [N] at `perm`'s
 * offset) comes out sorted. The block start comes from the workgroup, so the scan's loads are
 * the same for every lane (one scalar load each on lavapipe).
 */
export function embeddingSortBlocksLaunch(index: View, perm: View, maxWorkgroups: number): Launch {
  const n = index.shape[0];
  const words = [n, index.offset, perm.offset];
  return {
    kernel: {
      key: 'embedding_backward_sort_blocks',
      access: ['read_write', 'read'],
      build:
        () => `${uniforms(words.length)}${buffer(1, 'perm', 'read_write', 'i32')}${buffer(2, 'ids', 'read', 'i32')}${LESS}
${rowMain(SORT_BLOCK)}
  let n = p(0u);
  let start = row * ${SORT_BLOCK}u;
  let end = min(start + ${SORT_BLOCK}u, n);
  let i = start + lid;
  if (start >= n) { return; }
  var rank = 0u;
  for (var j = start; j < end; j = j + 1u) {
    if (less(j, i)) { rank = rank + 1u; }
  }
  if (i < n) { perm[p(2u) + start + rank] = i32(i); }
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / SORT_BLOCK), maxWorkgroups),
  };
}

/**
 * One merge pass: src (int32 [N], runs of `width` sorted positions) into dst (runs of 2·width).
 * Each element goes to its index in its run plus the number of keys below it in the partner
 * run; keys are unique, so no two elements land on the same slot.
 */
export function embeddingMergeLaunch(
  index: View,
  src: View,
  dst: View,
  width: number,
  maxWorkgroups: number,
): Launch {
  const n = index.shape[0];
  const words = [n, index.offset, src.offset, dst.offset, width];
  return {
    kernel: {
      key: 'embedding_backward_merge',
      access: ['read_write', 'read'],
      build:
        () => `${uniforms(words.length)}${buffer(1, 'perm', 'read_write', 'i32')}${buffer(2, 'ids', 'read', 'i32')}${LESS}
${rowMain(SORT_BLOCK)}
  let n = p(0u);
  let w = p(4u);
  let r = row * ${SORT_BLOCK}u + lid;
  if (r >= n) { return; }
  let x = u32(perm[p(2u) + r]);
  let s0 = r - r % (2u * w);
  let inFirst = r < s0 + w;
  // the partner run: the second half for an element of the first, and the other way round
  var lo = select(s0, s0 + w, inFirst);
  var hi = select(s0 + w, min(s0 + 2u * w, n), inFirst);
  let base = lo;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (less(u32(perm[p(2u) + mid]), x)) { lo = mid + 1u; } else { hi = mid; }
  }
  let own = select(r - s0 - w, r - s0, inFirst);
  perm[p(3u) + s0 + own + (lo - base)] = i32(x);
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / SORT_BLOCK), maxWorkgroups),
  };
}

/**
 * out [V, D] (zero-filled) gets the runs of g [N, D] (contiguous) along `perm` (int32 [N], the
 * positions sorted by id then position): a workgroup walks SUM_BLOCK sorted positions and, at each
 * that starts its id's run, sums the run's rows (which may extend past the block) in position
 * order, lanes over columns.
 */
export function embeddingSumLaunch(
  g: View,
  index: View,
  perm: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [n, D] = g.shape;
  const rows = out.shape[0];
  const dt = g.dtype;
  const words = [n, D, g.offset, index.offset, perm.offset, out.offset, rows];
  return {
    kernel: {
      key: `embedding_backward_sum:${dt}`,
      access: ['read_write', 'read', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'g', 'read', dt)}${buffer(3, 'ids', 'read', 'i32')}${buffer(4, 'perm', 'read', 'i32')}${mathPrelude(dt === 'float16')}
${rowMain(SUM_LANES)}
  let n = p(0u);
  let D = p(1u);
  for (var k = 0u; k < ${SUM_BLOCK}u; k = k + 1u) {
    let start = row * ${SUM_BLOCK}u + k;
    if (start >= n) { return; }
    let id = ids[p(3u) + u32(perm[p(4u) + start])];
    if (start > 0u && ids[p(3u) + u32(perm[p(4u) + start - 1u])] == id) { continue; }
    if (id < 0 || u32(id) >= p(6u)) { continue; }
    var end = start + 1u;
    while (end < n && ids[p(3u) + u32(perm[p(4u) + end])] == id) { end = end + 1u; }
    for (var c = lid; c < D; c = c + ${SUM_LANES}u) {
      var sum = 0.0;
      for (var r = start; r < end; r = r + 1u) {
        sum = sum + ${load(dt, 'g', `p(2u) + u32(perm[p(4u) + r]) * D + c`)};
      }
      ${store(dt, 'out', 'p(5u) + u32(id) * D + c', 'sum')}
    }
  }
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / SUM_BLOCK), maxWorkgroups),
  };
}
