/**
 * A seeded, counter-based sampler for training-window offsets.
 *
 * Draw number `c` is a pure hash of `(seed, c)`, so the whole sampler state is two integers. A
 * checkpoint saves {@link WindowSamplerState}; restoring it continues with exactly the draws an
 * uninterrupted run would have made. The same function is implemented in
 * `scripts/reference/gpt.py`, so the PyTorch reference can train on identical batches.
 */

/** The complete, JSON-serialisable state of a {@link WindowSampler}. */
export interface WindowSamplerState {
  /** The seed (a non-negative safe integer). */
  seed: number;
  /** How many values have been drawn so far; the next draw uses this position. */
  counter: number;
}

const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;

/** The murmur3 32-bit finaliser: a cheap bijective mixer with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32 random bits for draw `counter` of `seed` on sub-stream `stream` (0 or 1). */
export function hashDraw(seed: number, counter: number, stream: number): number {
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / TWO_POW_32) >>> 0;
  const counterLo = counter >>> 0;
  const counterHi = Math.floor(counter / TWO_POW_32) >>> 0;
  let h = fmix32((counterLo ^ seedLo ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
  h = fmix32((h ^ seedHi) >>> 0);
  h = fmix32((h ^ counterHi) >>> 0);
  return h;
}

function checkState(state: WindowSamplerState, where: string): void {
  if (!Number.isSafeInteger(state?.seed) || state.seed < 0) {
    throw new RangeError(`${where}: seed must be a non-negative safe integer, got ${state?.seed}`);
  }
  if (!Number.isSafeInteger(state.counter) || state.counter < 0) {
    throw new RangeError(`${where}: counter must be a non-negative safe integer, got ${state.counter}`);
  }
}

/** Draws uniform integers from a seeded, resumable stream (see the file comment). */
export class WindowSampler {
  #seed: number;
  #counter: number;

  /** Starts a fresh stream for `seed`, or resumes from a saved state. */
  constructor(seedOrState: number | WindowSamplerState) {
    const state = typeof seedOrState === 'number' ? { seed: seedOrState, counter: 0 } : seedOrState;
    checkState(state, 'WindowSampler');
    this.#seed = state.seed;
    this.#counter = state.counter;
  }

  /** A uniform integer in `[0, range)`. Consumes one position of the stream. */
  nextInt(range: number): number {
    if (!Number.isSafeInteger(range) || range < 1 || range > TWO_POW_32) {
      throw new RangeError(`WindowSampler.nextInt: range must be an integer in [1, 2^32], got ${range}`);
    }
    const c = this.#counter++;
    // 53 uniform bits from two 32-bit hashes; scaling by `range` has a bias below 2^-21.
    const high = hashDraw(this.#seed, c, 0);
    const low = hashDraw(this.#seed, c, 1) >>> 11;
    const unit = (high * 2 ** 21 + low) / TWO_POW_53;
    return Math.min(Math.floor(unit * range), range - 1);
  }

  /** A copy of the state, to store in a checkpoint. */
  state(): WindowSamplerState {
    return { seed: this.#seed, counter: this.#counter };
  }

  /** Restores a state from {@link WindowSampler.state}. */
  setState(state: WindowSamplerState): void {
    checkState(state, 'WindowSampler.setState');
    this.#seed = state.seed;
    this.#counter = state.counter;
  }
}
