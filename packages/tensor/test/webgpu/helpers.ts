/**
 * Shared helpers of the webgpu-vs-cpu tests: backend setup (skipping cleanly without an
 * adapter), deterministic host data, and element-wise comparison with stated tolerances.
 */
import {
  type Backend,
  type DType,
  destroyBackend,
  initBackend,
  scope,
  type Tensor,
  tensor,
} from '@kiln/tensor';

/** Why webgpu tests are skipped, or null when an adapter is available. */
export let skipReason: string | null = null;
export let gpu: Backend | undefined;
export const cpu: Backend = await initBackend('cpu');

try {
  gpu = await initBackend('webgpu');
} catch (err) {
  skipReason = `no WebGPU adapter (${(err as Error).message.split('\n')[0]}); webgpu tests are skipped`;
  console.warn(`[kiln] ${skipReason}`);
}

/** Title suffix that explains a skip in the test report. */
export const suiteName = (name: string): string =>
  skipReason ? `${name} (skipped: no WebGPU adapter)` : name;

/** Destroys the webgpu backend so the test process can exit (Dawn keeps Node alive otherwise). */
export async function shutdown(): Promise<void> {
  if (!gpu) return;
  if (process.env.KILN_WEBGPU_STATS)
    console.log('[kiln] webgpu stats', (gpu as unknown as { stats(): object }).stats());
  await destroyBackend('webgpu');
}

/** A small deterministic PRNG (mulberry32) for host data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Host data for a tensor: values, shape and dtype. */
export interface HostSpec {
  data: ArrayLike<number>;
  shape: number[];
  dtype: DType;
}

/** Options of {@link randomSpec}. */
export interface RandomOptions {
  low?: number;
  high?: number;
  seed?: number;
}

/** Random host data (never all zeros): floats uniform in [low, high), integers in [low, high). */
export function randomSpec(shape: number[], dtype: DType = 'float32', options: RandomOptions = {}): HostSpec {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(options.seed ?? n * 7919 + shape.length * 31 + dtype.length);
  const isInt = dtype === 'int32' || dtype === 'uint32';
  const low = options.low ?? (dtype === 'uint32' ? 0 : isInt ? -50 : -2);
  const high = options.high ?? (isInt ? 50 : 2);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'bool') data[i] = r() < 0.5 ? 1 : 0;
    else if (isInt) data[i] = low + Math.floor(r() * (high - low));
    else data[i] = low + r() * (high - low);
  }
  if (dtype === 'float32' || dtype === 'float16') return { data: Float32Array.from(data), shape, dtype };
  return { data: Array.from(data), shape, dtype };
}

/** Creates `spec` on `backend`. */
export function make(backend: Backend, spec: HostSpec): Tensor {
  return tensor(spec.data as ArrayLike<number>, { backend, shape: spec.shape, dtype: spec.dtype });
}

/** Tolerance: |gpu - cpu| <= atol + rtol·|cpu|; exact for integers and bools. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/** Finds the first element where `actual` and `expected` differ beyond the tolerance. */
export function firstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): { index: number; actual: number; expected: number } | null {
  const rtol = tol.rtol ?? 0;
  const atol = tol.atol ?? 0;
  if (actual.length !== expected.length)
    return { index: -1, actual: actual.length, expected: expected.length };
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
      return { index: i, actual: a, expected: e };
    }
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return { index: i, actual: a, expected: e };
  }
  return null;
}

/** Asserts two tensors (any backends) hold the same shape, dtype and values within `tol`. */
export async function expectSame(
  actual: Tensor,
  expected: Tensor,
  tol: Tolerance = {},
  what = '',
): Promise<void> {
  const prefix = what ? `${what}: ` : '';
  if (actual.dtype !== expected.dtype) throw new Error(`${prefix}dtype ${actual.dtype} vs ${expected.dtype}`);
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    throw new Error(`${prefix}shape [${actual.shape}] vs [${expected.shape}]`);
  }
  const [a, e] = await Promise.all([actual.data(), expected.data()]);
  const exact = actual.dtype !== 'float32' && actual.dtype !== 'float16';
  const bad = firstMismatch(a, e, exact ? {} : tol);
  if (bad) {
    throw new Error(
      `${prefix}webgpu differs from cpu at flat index ${bad.index} of [${expected.shape}] ${expected.dtype}: ` +
        `${bad.actual} vs ${bad.expected} (rtol ${tol.rtol ?? 0}, atol ${tol.atol ?? 0})`,
    );
  }
}

/**
 * Runs `fn` on the cpu and the webgpu backends and compares every output tensor.
 * `fn` gets the backend and builds its inputs with `make(backend, spec)`.
 */
export async function compare(
  fn: (backend: Backend) => Tensor | Tensor[],
  tol: Tolerance = {},
  what = '',
): Promise<void> {
  if (gpu) await compareOn(gpu, cpu, fn, tol, what);
}

/** {@link compare} between any two backends: `fn` on `actualBackend` against `fn` on `expectedBackend`. */
export async function compareOn(
  actualBackend: Backend,
  expectedBackend: Backend,
  fn: (backend: Backend) => Tensor | Tensor[],
  tol: Tolerance = {},
  what = '',
): Promise<void> {
  // scopes dispose the inputs built inside `fn`; the outputs are disposed below
  const expected = scope(() => ([] as Tensor[]).concat(fn(expectedBackend)));
  const actual = scope(() => ([] as Tensor[]).concat(fn(actualBackend)));
  try {
    for (let i = 0; i < expected.length; i++) {
      await expectSame(actual[i], expected[i], tol, expected.length > 1 ? `${what} output ${i}` : what);
    }
  } finally {
    for (const t of [...expected, ...actual]) t.dispose();
  }
}

/** Float tolerances used across the suite (see each test for the op-specific ones). */
export const TOL = {
  /** Correctly rounded or nearly (add, mul, casts...). */
  exactish: { rtol: 1e-6, atol: 0 },
  /** Transcendental elementwise functions in f32 vs the CPU's float64. */
  elementwise: { rtol: 1e-5, atol: 1e-6 },
  /** float16 results: half precision has 11 significant bits. */
  half: { rtol: 2e-3, atol: 1e-3 },
} as const;
