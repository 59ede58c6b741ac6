// A hash table from a pair of non-negative int32s to an int32, on typed arrays. Pair lookups are
// the inner loop of both byte-pair merging and training; a JS Map would need a combined key that
// no longer fits a small integer (two 20-bit ids), which is several times slower.

const EMPTY = -1;

function hashPair(left: number, right: number): number {
  let h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** Open-addressing (linear probing) map from `(left, right)` to a value. Grows as needed. */
export class PairTable {
  private lefts: Int32Array;
  private rights: Int32Array;
  private values: Int32Array;
  private mask: number;
  /** Number of pairs stored. */
  size = 0;

  constructor(expectedSize = 16) {
    let capacity = 16;
    while (capacity < expectedSize * 2) capacity *= 2;
    this.lefts = new Int32Array(capacity).fill(EMPTY);
    this.rights = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** The value stored for the pair, or -1 when absent (values are expected to be ≥ 0). */
  get(left: number, right: number): number {
    const lefts = this.lefts;
    const mask = this.mask;
    let slot = hashPair(left, right) & mask;
    for (;;) {
      const l = lefts[slot];
      if (l === left && this.rights[slot] === right) return this.values[slot];
      if (l === EMPTY) return -1;
      slot = (slot + 1) & mask;
    }
  }

  /** Stores `value` for the pair (replacing any previous value). */
  set(left: number, right: number, value: number): void {
    if ((this.size + 1) * 2 > this.lefts.length) this.grow();
    const mask = this.mask;
    let slot = hashPair(left, right) & mask;
    for (;;) {
      const l = this.lefts[slot];
      if (l === EMPTY) {
        this.lefts[slot] = left;
        this.rights[slot] = right;
        this.values[slot] = value;
        this.size++;
        return;
      }
      if (l === left && this.rights[slot] === right) {
        this.values[slot] = value;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const { lefts, rights, values } = this;
    const capacity = lefts.length * 2;
    this.lefts = new Int32Array(capacity).fill(EMPTY);
    this.rights = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.size = 0;
    for (let s = 0; s < lefts.length; s++) {
      if (lefts[s] !== EMPTY) this.set(lefts[s], rights[s], values[s]);
    }
  }
}
