// A hash table from a pair of non-negative int32s to an int32, on one typed array. Pair lookups
// are the inner loop of both byte-pair merging and training; a JS Map would need a combined key
// that no longer fits a small integer (two 20-bit ids), which is several times slower. Each slot
// keeps its key and value side by side (left, right, value) so a probe touches one cache line.

const EMPTY = -1;

function hashPair(left: number, right: number): number {
  let h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** Open-addressing (linear probing) map from `(left, right)` to a value. Grows as needed. */
export class PairTable {
  /** Slot i is at [3i, 3i + 3): left (EMPTY when free), right, value. */
  private slots: Int32Array;
  private mask: number;
  /** Number of pairs stored. */
  size = 0;

  constructor(expectedSize = 16) {
    let capacity = 16;
    while (capacity < expectedSize * 2) capacity *= 2;
    this.slots = new Int32Array(capacity * 3).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** The value stored for the pair, or -1 when absent (values are expected to be ≥ 0). */
  get(left: number, right: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let slot = hashPair(left, right) & mask;
    for (;;) {
      const at = slot * 3;
      const l = slots[at];
      if (l === left && slots[at + 1] === right) return slots[at + 2];
      if (l === EMPTY) return -1;
      slot = (slot + 1) & mask;
    }
  }

  /** Stores `value` for the pair (replacing any previous value). */
  set(left: number, right: number, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    let slot = hashPair(left, right) & mask;
    for (;;) {
      const at = slot * 3;
      const l = slots[at];
      if (l === EMPTY) {
        slots[at] = left;
        slots[at + 1] = right;
        slots[at + 2] = value;
        this.size++;
        return;
      }
      if (l === left && slots[at + 1] === right) {
        slots[at + 2] = value;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Int32Array(capacity * 3).fill(EMPTY);
    this.mask = capacity - 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += 3) {
      if (old[at] !== EMPTY) this.set(old[at], old[at + 1], old[at + 2]);
    }
  }
}
