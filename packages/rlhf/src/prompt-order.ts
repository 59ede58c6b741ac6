// The order prompts are drawn in: a seeded shuffle per epoch, serialisable as a position, so a
// run draws the same prompts at the same steps.

/** A trainer's place in its run (`GRPOTrainer.state()`, `PPOTrainer.state()`): steps taken and the prompt order's position. */
export interface RunPosition {
  /** Steps completed. */
  step: number;
  /** The prompt order's epoch and index within it. */
  order: { epoch: number; at: number };
}

/** Draws prompt indices in seeded shuffled epochs. */
export class PromptOrder {
  #order: number[] = [];
  #epoch = -1;
  #at = 0;
  constructor(
    readonly count: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`PromptOrder: there must be at least one prompt, got ${count}`);
  }

  /** The next `n` prompt indices (an epoch boundary reshuffles). */
  take(n: number): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.#at >= this.#order.length) this.#shuffle(this.#epoch + 1);
      out.push(this.#order[this.#at++]);
    }
    return out;
  }

  /** Where the order is: `{ epoch, at }`. */
  state(): { epoch: number; at: number } {
    return { epoch: this.#epoch, at: this.#at };
  }

  /** Continues from a `state()`. */
  restore(state: { epoch: number; at: number }): void {
    if (state.epoch >= 0) this.#shuffle(state.epoch);
    this.#at = state.at;
  }

  #shuffle(epoch: number): void {
    this.#epoch = epoch;
    this.#at = 0;
    let a = (this.seed * 0x9e3779b1 + epoch * 0x85ebca6b) >>> 0;
    const random = () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    this.#order = Array.from({ length: this.count }, (_, i) => i);
    for (let i = this.count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.#order[i], this.#order[j]] = [this.#order[j], this.#order[i]];
    }
  }
}
