/**
 * Seeded, counter-based random numbers.
 *
 * Element `i` of a draw is `bits(seed, counter + i)`: a pure hash of the key and its position,
 * so a backend can generate any slice of the stream in parallel and a run is reproducible from
 * (seed, counter) alone; that pair is the whole generator state a checkpoint needs to save.
 * The hash is the `lowbias32` integer mixer applied three times (one 32-bit word per round),
 * written with 32-bit integer operations only so WGSL and JavaScript compute identical bits.
 * Uniforms use the top 24 bits; normals use Box-Muller over two independent streams.
 */

/** The generator state: a 64-bit key (two words) and the position of the next draw. */
export interface RngState {
  seed: [number, number];
  counter: number;
}

const state: RngState = { seed: [0x2545f491, 0x9e3779b9], counter: 0 };

/** Seeds the default generator: the same seed gives the same draws on the same backend. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
  state.seed = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
  state.counter = 0;
}

/** A copy of the generator state (for checkpoints). */
export function getRngState(): RngState {
  return { seed: [state.seed[0], state.seed[1]], counter: state.counter };
}

/** Restores a state from {@link getRngState}. */
export function setRngState(s: RngState): void {
  if (!Array.isArray(s?.seed) || s.seed.length !== 2 || !Number.isSafeInteger(s.counter) || s.counter < 0) {
    throw new TypeError(
      'setRngState: expected { seed: [u32, u32], counter: non-negative integer } from getRngState()',
    );
  }
  state.seed = [s.seed[0] >>> 0, s.seed[1] >>> 0];
  state.counter = s.counter;
}

/** Reserves `n` positions of the stream and returns the key and first position (internal to ops). */
export function takeCounter(n: number): { seed: [number, number]; counter: number } {
  const out = { seed: [state.seed[0], state.seed[1]] as [number, number], counter: state.counter };
  state.counter += n;
  return out;
}

/** The integer mixer (Chris Wellons' lowbias32). */
export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** Stream selector XOR-ed into the second key word for the second normal uniform. */
export const SECOND_STREAM = 0x68e31da4;

/** 32 random bits at position (lo, hi) of stream `seed`. */
export function randomBits(seed0: number, seed1: number, lo: number, hi: number): number {
  let h = lowbias32((lo ^ seed0) >>> 0);
  h = lowbias32((h ^ seed1) >>> 0);
  h = lowbias32((h ^ hi ^ 0x9e3779b9) >>> 0);
  return h;
}

/** A uniform in [0, 1) from 32 random bits (24 significant bits, exact in float32). */
export function bitsToUniform(bits: number): number {
  return (bits >>> 8) * 2 ** -24;
}
