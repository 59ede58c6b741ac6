/**
 * Best-fit-decreasing bin packing of sequences into rows of a fixed length: sequences are placed
 * longest first, each into the open row with the least room that still fits it, or a new row.
 * BFD uses at most 11/9 of the optimal number of rows (+ 6/9) and, like every any-fit rule,
 * leaves at most one row half empty or worse.
 *
 * The row with the least room that fits is found in O(log contextLength): a segment tree counts
 * rows by remaining room, and a descent finds the smallest room ≥ the length with a row in it.
 */

/** Counts of open rows by remaining room (0 … capacity), with "smallest room ≥ n that has a row". */
class RoomIndex {
  readonly #size: number;
  readonly #counts: Int32Array;

  constructor(capacity: number) {
    let size = 1;
    while (size < capacity + 1) size *= 2;
    this.#size = size;
    this.#counts = new Int32Array(2 * size);
  }

  add(room: number, delta: number): void {
    for (let node = room + this.#size; node >= 1; node >>= 1) this.#counts[node] += delta;
  }

  /** The smallest room ≥ `least` that some row has, or -1. */
  smallestAtLeast(least: number): number {
    return this.#first(1, 0, this.#size - 1, least);
  }

  #first(node: number, lo: number, hi: number, least: number): number {
    if (hi < least || this.#counts[node] === 0) return -1;
    if (lo === hi) return lo;
    const mid = (lo + hi) >> 1;
    const left = this.#first(2 * node, lo, mid, least);
    return left >= 0 ? left : this.#first(2 * node + 1, mid + 1, hi, least);
  }
}

/**
 * Packs items of `lengths` into rows of `contextLength` by best fit decreasing (see the file
 * comment). Returns the rows as lists of item indices (each index exactly once; a row's items in
 * the order they were placed, longest first); no row's lengths sum to more than
 * `contextLength`. Deterministic: equal lengths are placed in index order.
 *
 * ```ts
 * packBestFitDecreasing([7, 5, 4, 3, 1], 10); // [[0, 3], [1, 2, 4]]
 * ```
 */
export function packBestFitDecreasing(lengths: readonly number[], contextLength: number): number[][] {
  if (!Number.isInteger(contextLength) || contextLength < 1) {
    throw new RangeError(
      `packBestFitDecreasing: contextLength must be a positive integer, got ${contextLength}`,
    );
  }
  lengths.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 1 || n > contextLength) {
      throw new RangeError(
        `packBestFitDecreasing: item ${i} has length ${n}; lengths must be integers in [1, contextLength = ${contextLength}] (truncate longer sequences first)`,
      );
    }
  });
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const rows: number[][] = [];
  const room: number[] = [];
  // rows by remaining room; within one room the most recently changed row is used first
  const byRoom: number[][] = Array.from({ length: contextLength + 1 }, () => []);
  const index = new RoomIndex(contextLength);
  for (const item of order) {
    const n = lengths[item];
    const best = index.smallestAtLeast(n);
    let row: number;
    if (best < 0) {
      row = rows.length;
      rows.push([]);
      room.push(contextLength);
    } else {
      row = byRoom[best].pop()!;
      index.add(best, -1);
    }
    rows[row].push(item);
    room[row] -= n;
    byRoom[room[row]].push(row);
    index.add(room[row], 1);
  }
  return rows;
}
