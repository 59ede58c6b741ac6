// Byte-pair merging of one piece. Start from one token per byte, then repeatedly merge the
// adjacent pair with the lowest merge rank (the leftmost one when the same pair occurs twice)
// until no adjacent pair has a merge rule. This is the rule of both tiktoken and Hugging Face BPE.
//
// Short pieces (almost all of them) use a flat array and a linear scan per merge: O(n²), but n is
// a word. Long pieces (a run of a million spaces, a base64 blob) use a linked list and a heap,
// O(n log n), so no input can make encoding quadratic.
import { NumberHeap } from './heap.js';
import type { PairTable } from './pair-table.js';

/** The merge rules of a vocabulary, as the merge loop needs them. */
export interface MergeRules {
  /** Token id of each single byte. */
  readonly byteIds: Int32Array;
  /** `(leftId, rightId)` → merge rank (lower merges first); -1 when the pair never merges. */
  readonly ranks: PairTable;
  /** Merge rank → id of the merged token. */
  readonly mergedIds: Int32Array;
  /** True when every merge only uses bytes and tokens made by earlier merges (see mergeLongByRank). */
  readonly ranksIncrease: boolean;
}

/** Pieces longer than this many bytes take the heap path. */
const LONG_PIECE_BYTES = 128;

const NO_MERGE = 0x7fffffff;

// Scratch arrays reused across calls (JS is single-threaded, and the loops never re-enter).
let partsScratch = new Int32Array(LONG_PIECE_BYTES);
let ranksScratch = new Int32Array(LONG_PIECE_BYTES);

/** Merges `bytes[start, start + length)` and appends the resulting token ids to `out`. */
export function mergeBytes(
  rules: MergeRules,
  bytes: Uint8Array,
  start: number,
  length: number,
  out: number[],
): void {
  if (length === 0) return;
  if (length === 1) {
    out.push(rules.byteIds[bytes[start]]);
    return;
  }
  if (length <= LONG_PIECE_BYTES) mergeShort(rules, bytes, start, length, out);
  else if (rules.ranksIncrease) mergeLongByRank(rules, bytes, start, length, out);
  else mergeLong(rules, bytes, start, length, out);
}

/** The O(n²) path: a flat array of parts, one linear scan for the best pair per merge. */
export function mergeShort(
  rules: MergeRules,
  bytes: Uint8Array,
  start: number,
  length: number,
  out: number[],
): void {
  if (partsScratch.length < length) {
    partsScratch = new Int32Array(length);
    ranksScratch = new Int32Array(length);
  }
  const parts = partsScratch;
  const ranks = ranksScratch; // ranks[i] is the rank of the pair (parts[i], parts[i + 1])
  const { byteIds, ranks: table, mergedIds } = rules;
  let n = length;
  for (let i = 0; i < n; i++) parts[i] = byteIds[bytes[start + i]];
  for (let i = 0; i < n - 1; i++) {
    const r = table.get(parts[i], parts[i + 1]);
    ranks[i] = r < 0 ? NO_MERGE : r;
  }
  while (n > 1) {
    let best = NO_MERGE;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      if (ranks[i] < best) {
        best = ranks[i];
        at = i;
      }
    }
    if (at < 0) break;
    parts[at] = mergedIds[best];
    // Close the gap left by parts[at + 1] (a plain loop: the arrays are short, and copyWithin's
    // call overhead would dominate).
    for (let i = at + 1; i < n - 1; i++) {
      parts[i] = parts[i + 1];
      ranks[i] = ranks[i + 1];
    }
    n--;
    if (at > 0) {
      const r = table.get(parts[at - 1], parts[at]);
      ranks[at - 1] = r < 0 ? NO_MERGE : r;
    }
    if (at < n - 1) {
      const r = table.get(parts[at], parts[at + 1]);
      ranks[at] = r < 0 ? NO_MERGE : r;
    }
  }
  for (let i = 0; i < n; i++) out.push(parts[i]);
}

/**
 * The O(n log n) path. Parts form a doubly linked list indexed by their first byte's offset; the
 * heap holds `rank * 2^32 + offset` for every adjacent pair that has a rule, so it pops the
 * lowest rank and, among equal ranks, the leftmost pair: the same order as the short path.
 * Entries go stale when a neighbour merges; a popped entry is used only if the pair at that
 * offset still has that rank.
 */
export function mergeLong(
  rules: MergeRules,
  bytes: Uint8Array,
  start: number,
  length: number,
  out: number[],
): void {
  if (length === 0) return;
  const { ranks: table, mergedIds } = rules;
  const parts = linkBytes(rules, bytes, start, length);
  const { ids, next, prev, alive } = parts;
  const heap = new NumberHeap(length);
  const SHIFT = 2 ** 32;
  for (let i = 0; i < length - 1; i++) {
    const r = table.get(ids[i], ids[i + 1]);
    if (r >= 0) heap.push(r * SHIFT + i);
  }
  while (heap.size > 0) {
    const key = heap.pop();
    const rank = Math.floor(key / SHIFT);
    const at = key - rank * SHIFT;
    if (!alive[at]) continue;
    const right = next[at];
    if (right < 0 || table.get(ids[at], ids[right]) !== rank) continue; // stale entry
    const after = mergePair(parts, at, right, mergedIds[rank]);
    const before = prev[at];
    if (before >= 0) {
      const r = table.get(ids[before], ids[at]);
      if (r >= 0) heap.push(r * SHIFT + before);
    }
    if (after >= 0) {
      const r = table.get(ids[at], ids[after]);
      if (r >= 0) heap.push(r * SHIFT + at);
    }
  }
  emitParts(parts, out);
}

/**
 * The O(n) path for vocabularies whose merges only use tokens made by earlier merges (every real
 * vocabulary; `Vocabulary.ranksIncrease` checks it). Then a merge of rank r only creates pairs
 * of rank > r, so ranks can be processed in increasing order, each rank's positions left to
 * right, with no heap per pair: positions wait in one bucket per rank.
 */
export function mergeLongByRank(
  rules: MergeRules,
  bytes: Uint8Array,
  start: number,
  length: number,
  out: number[],
): void {
  if (length === 0) return;
  const { ranks: table, mergedIds } = rules;
  const parts = linkBytes(rules, bytes, start, length);
  const { ids, next, prev, alive } = parts;
  const buckets = new Map<number, number[]>();
  const pending = new NumberHeap(); // ranks that have a bucket
  // Repetitive input keeps hitting the same few ranks; remember the last two buckets used.
  let rankA = -1;
  let bucketA: number[] = [];
  let rankB = -1;
  let bucketB: number[] = [];
  const enqueue = (rank: number, at: number) => {
    if (rank === rankA) {
      bucketA.push(at);
      return;
    }
    if (rank === rankB) {
      bucketB.push(at);
      return;
    }
    let bucket = buckets.get(rank);
    if (bucket === undefined) {
      bucket = [at];
      buckets.set(rank, bucket);
      pending.push(rank);
    } else {
      bucket.push(at);
    }
    rankB = rankA;
    bucketB = bucketA;
    rankA = rank;
    bucketA = bucket;
  };
  for (let i = 0; i < length - 1; i++) {
    const r = table.get(ids[i], ids[i + 1]);
    if (r >= 0) enqueue(r, i);
  }
  while (pending.size > 0) {
    const rank = pending.pop();
    const positions = buckets.get(rank)!;
    buckets.delete(rank);
    if (rank === rankA) rankA = -1;
    if (rank === rankB) rankB = -1;
    if (!isSorted(positions)) positions.sort((x, y) => x - y); // leftmost first, as in the other paths
    const merged = mergedIds[rank];
    for (let k = 0; k < positions.length; k++) {
      const at = positions[k];
      const right = next[at];
      if (!alive[at] || right < 0 || table.get(ids[at], ids[right]) !== rank) continue; // stale
      const after = mergePair(parts, at, right, merged);
      const before = prev[at];
      if (before >= 0) {
        const r = table.get(ids[before], merged);
        if (r >= 0) enqueue(r, before);
      }
      if (after >= 0) {
        const r = table.get(merged, ids[after]);
        if (r >= 0) enqueue(r, at);
      }
    }
  }
  emitParts(parts, out);
}

/** A piece's parts as a doubly linked list indexed by each part's first byte offset. */
interface PartList {
  ids: Int32Array;
  next: Int32Array;
  prev: Int32Array;
  /** 0 once a part has been merged into its left neighbour. */
  alive: Uint8Array;
}

/** One part per byte, linked left to right (the starting point of both long merge paths). */
function linkBytes(rules: MergeRules, bytes: Uint8Array, start: number, length: number): PartList {
  const ids = new Int32Array(length);
  const next = new Int32Array(length);
  const prev = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    ids[i] = rules.byteIds[bytes[start + i]];
    next[i] = i + 1 < length ? i + 1 : -1;
    prev[i] = i - 1;
  }
  return { ids, next, prev, alive: new Uint8Array(length).fill(1) };
}

/** Replaces the pair (at, right) by `merged` at `at` and unlinks `right`; returns the part after it. */
function mergePair(parts: PartList, at: number, right: number, merged: number): number {
  const { ids, next, prev, alive } = parts;
  ids[at] = merged;
  alive[right] = 0;
  const after = next[right];
  next[at] = after;
  if (after >= 0) prev[after] = at;
  return after;
}

/** Appends the ids of the remaining parts, left to right. */
function emitParts(parts: PartList, out: number[]): void {
  for (let i = 0; i >= 0; i = parts.next[i]) out.push(parts.ids[i]);
}

function isSorted(values: number[]): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1]) return false;
  return true;
}
