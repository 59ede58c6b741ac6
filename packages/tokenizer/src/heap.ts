// A binary min-heap of numbers. Callers that need a compound priority pack it into one float64
// (e.g. `rank * 2**32 + position`), which keeps every comparison a single `<`.

/** Min-heap of float64 keys backed by a growable Float64Array. */
export class NumberHeap {
  private items: Float64Array;
  /** Number of keys in the heap. */
  size = 0;

  constructor(capacity = 64) {
    this.items = new Float64Array(Math.max(capacity, 4));
  }

  /** Adds a key. */
  push(key: number): void {
    if (this.size === this.items.length) {
      const bigger = new Float64Array(this.items.length * 2);
      bigger.set(this.items);
      this.items = bigger;
    }
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= key) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = key;
  }

  /** Removes and returns the smallest key (the heap must not be empty). */
  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items[--this.size];
    const n = this.size;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && items[child + 1] < items[child]) child++;
      if (items[child] >= last) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
    return top;
  }
}
