import { type Backend, init, initBackend, manualSeed, randn, type Tensor, tensor } from '@kiln/tensor';

/** Initialises the cpu backend as the default (every test file calls this first). */
export async function initCpu(): Promise<Backend> {
  await init({ backend: 'cpu', quiet: true });
  return initBackend('cpu');
}

/**
 * The webgpu backend when it can be created here, else null (tests then skip).
 * `KILN_AUTOGRAD_WEBGPU=0` skips the webgpu tests even when an adapter exists.
 */
export async function tryWebgpu(): Promise<Backend | null> {
  if (process.env.KILN_AUTOGRAD_WEBGPU === '0') return null;
  try {
    return await initBackend('webgpu');
  } catch {
    return null;
  }
}

/** A small seeded generator for shapes and choices (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
export function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** A random shape of rank in [minRank, maxRank] with dims in [1, maxDim]. */
export function shape(r: () => number, minRank: number, maxRank: number, maxDim = 4): number[] {
  return Array.from({ length: int(r, minRank, maxRank) }, () => int(r, 1, maxDim));
}

/** `full` with some dims set to 1 and some leading dims dropped: a shape that broadcasts to `full`. */
export function broadcastable(r: () => number, full: number[]): number[] {
  const drop = int(r, 0, full.length);
  return full.slice(drop).map((d) => (r() < 0.3 ? 1 : d));
}

/** Standard normal values (seeded through `manualSeed`). */
export function normal(s: readonly number[], seed: number): Tensor {
  manualSeed(seed);
  return randn(s);
}

/** Values in [lo, hi) (for logs, roots and divisions). */
export function uniform(s: readonly number[], seed: number, lo: number, hi: number): Tensor {
  const r = rng(seed);
  const n = s.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: n }, () => lo + (hi - lo) * r()),
    { shape: s },
  );
}

/** Values bounded away from zero: ±[lo, hi). */
export function awayFromZero(s: readonly number[], seed: number, lo = 0.5, hi = 2): Tensor {
  const r = rng(seed);
  const n = s.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r())),
    { shape: s },
  );
}

/** int32 ids in [0, n). */
export function ids(s: readonly number[], n: number, seed: number): Tensor {
  const r = rng(seed);
  const count = s.reduce((a, b) => a * b, 1);
  return tensor(
    Int32Array.from({ length: count }, () => Math.floor(r() * n)),
    { shape: s, dtype: 'int32' },
  );
}

/** Max |a - b| over two arrays. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
