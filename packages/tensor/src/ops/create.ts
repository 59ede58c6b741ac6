import type { Backend } from '../backend.js';
import { resolveBackend } from '../context.js';
import { dispatch } from '../dispatch.js';
import { allocHost, assertDType, type DType, type HostArray, isFloat } from '../dtype.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import { takeCounter } from '../random.js';
import { checkShape, type Shape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { empty } from './util.js';

/** Where and how to create a tensor. */
export interface CreateOptions {
  /** Element type (default float32, or inferred from typed-array data). */
  dtype?: DType;
  /** An initialised backend or its name (default: the one chosen by `init`). */
  backend?: Backend | string;
  /** `parameter` allocates from the long-lived pool (weights, optimizer state). */
  usage?: 'activation' | 'parameter';
}

/** Data `tensor()` accepts: a number, (nested) arrays of numbers/booleans, or a typed array. */
export type TensorData = number | boolean | readonly TensorData[] | ArrayLike<number>;

function inferShape(data: unknown): number[] {
  const shape: number[] = [];
  let d: unknown = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0];
  }
  return shape;
}

function flatten(data: unknown, shape: number[], out: number[], dim = 0): void {
  if (dim === shape.length) {
    if (typeof data === 'boolean') out.push(data ? 1 : 0);
    else if (typeof data === 'number') out.push(data);
    else throw new TypeError(`tensor: expected a number or boolean at depth ${dim}, got ${typeof data}`);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ShapeError(
      `tensor: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(data) ? data.length : typeof data}`,
    );
  }
  for (const v of data) flatten(v, shape, out, dim + 1);
}

function dtypeOfTyped(data: ArrayLike<number>): DType | undefined {
  if (data instanceof Float32Array || data instanceof Float64Array) return 'float32';
  if (data instanceof Int32Array || data instanceof Int16Array || data instanceof Int8Array) return 'int32';
  if (data instanceof Uint32Array || data instanceof Uint16Array) return 'uint32';
  if (data instanceof Uint8Array) return 'uint32';
  return undefined;
}

function firstLeaf(data: unknown): unknown {
  let d = data;
  while (Array.isArray(d)) d = d[0];
  return d;
}

/** Converts host numbers to the host array of `dtype`, rejecting values the dtype cannot hold. */
function toHost(values: ArrayLike<number>, dtype: DType, op: string): HostArray {
  const out = allocHost(dtype, values.length);
  if (dtype === 'int32' || dtype === 'uint32') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v)) {
        throw new DTypeError(
          `${op}: value ${v} at flat index ${i} is not an integer; use dtype 'float32' or round first`,
        );
      }
    }
  }
  if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) out[i] = values[i] ? 1 : 0;
    return out;
  }
  out.set(values as ArrayLike<number>);
  return out;
}

/** @internal Uploads a host array as a new tensor (used by `tensor`, `toBackend`, and checkpoint loaders). */
export function fromHost(
  host: HostArray,
  shape: Shape,
  dtype: DType,
  backend: Backend,
  usage: 'activation' | 'parameter' = 'activation',
): Tensor {
  const t = empty(backend, shape, dtype, usage);
  if (host.length > 0) backend.upload(t.storage.handle, dtype, host);
  if (dtype === 'int32' && host.length > 0) hostRanges.set(t.storage, hostRange(host));
  return t;
}

/**
 * What index ops and public callers (a model checking token ids) know about int32 values that
 * came from the host, without reading the device: the smallest and largest value, the smallest
 * value other than the smallest (so an ignore index such as −100 cannot hide another negative
 * id), and the flat position of the first occurrence of each.
 */
export interface HostRange {
  lo: number;
  loAt: number;
  /** The smallest value greater than `lo` (Infinity when every value equals `lo`). */
  lo2: number;
  lo2At: number;
  hi: number;
  hiAt: number;
}

function hostRange(host: HostArray): HostRange {
  const r: HostRange = { lo: host[0], loAt: 0, lo2: Infinity, lo2At: -1, hi: host[0], hiAt: 0 };
  for (let i = 1; i < host.length; i++) {
    const v = host[i];
    if (v < r.lo) {
      r.lo2 = r.lo;
      r.lo2At = r.loAt;
      r.lo = v;
      r.loAt = i;
    } else if (v > r.lo && v < r.lo2) {
      r.lo2 = v;
      r.lo2At = i;
    }
    if (v > r.hi) {
      r.hi = v;
      r.hiAt = i;
    }
  }
  return r;
}

/** Ranges of int32 storages whose contents came from the host and have not been overwritten since. */
export const hostRanges = new WeakMap<object, HostRange>();

/**
 * The first value of an int32 tensor uploaded from the host that lies outside `[0, n)` (other
 * than `allowed`, e.g. an ignore index), with its position, found without a readback. Returns
 * null when every value is in range, and undefined when the values are not known on the host
 * (computed on the device, overwritten since, or a view of part of the storage). The position
 * is a multi-index into `t` when `t` covers its storage in order, else undefined.
 */
export function hostOutOfRange(
  t: Tensor,
  n: number,
  allowed?: number,
): { value: number; position: number[] | undefined } | null | undefined {
  if (t.dtype !== 'int32' || t.size !== t.storage.size) return undefined;
  const r = hostRanges.get(t.storage);
  if (!r) return undefined;
  let value: number;
  let at: number;
  if (r.hi >= n) [value, at] = [r.hi, r.hiAt];
  else if (r.lo < 0 && r.lo !== allowed) [value, at] = [r.lo, r.loAt];
  else if (r.lo === allowed && r.lo2 < 0) [value, at] = [r.lo2, r.lo2At];
  else return null;
  const inOrder = t.offset === 0 && t.isContiguous;
  return { value, position: inOrder ? unravel(at, t.shape) : undefined };
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return out;
}

/**
 * Creates a tensor from a number, nested arrays or a typed array. Numbers default to float32
 * (booleans to bool); typed arrays keep their element type unless `dtype` says otherwise.
 */
export function tensor(
  data: TensorData,
  options: CreateOptions & { shape?: readonly number[] } = {},
): Tensor {
  const backend = resolveBackend(options.backend);
  let values: ArrayLike<number>;
  let shape: number[];
  let dtype = options.dtype;
  if (ArrayBuffer.isView(data)) {
    values = data as unknown as ArrayLike<number>;
    shape = options.shape ? checkShape(options.shape, 'tensor') : [values.length];
    dtype ??= dtypeOfTyped(values) ?? 'float32';
  } else {
    shape = inferShape(data);
    const flat: number[] = [];
    flatten(data, shape, flat);
    values = flat;
    dtype ??= typeof firstLeaf(data) === 'boolean' ? 'bool' : 'float32';
    if (options.shape) {
      const want = checkShape(options.shape, 'tensor');
      if (sizeOf(want) !== flat.length) {
        throw new ShapeError(
          `tensor: ${flat.length} values do not fill shape ${fmtShape(want)} (${sizeOf(want)} elements)`,
        );
      }
      shape = want;
    }
  }
  assertDType(dtype, 'tensor');
  if (sizeOf(shape) !== values.length) {
    throw new ShapeError(
      `tensor: ${values.length} values do not fill shape ${fmtShape(shape)} (${sizeOf(shape)} elements)`,
    );
  }
  const host = toHost(values, dtype, 'tensor');
  return dispatch('tensor', [], { shape, dtype }, () => fromHost(host, shape, dtype, backend, options.usage));
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  const backend = resolveBackend(options.backend);
  const s = checkShape(shape, 'full');
  const dtype = options.dtype ?? 'float32';
  assertDType(dtype, 'full');
  if ((dtype === 'int32' || dtype === 'uint32') && !Number.isInteger(value)) {
    throw new DTypeError(`full: value ${value} is not an integer but dtype is ${dtype}`);
  }
  return dispatch('full', [], { shape: s, value, dtype }, () => {
    const t = empty(backend, s, dtype, options.usage);
    if (t.size > 0) backend.fill(t.view_(), value);
    return t;
  });
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Zeros with `t`'s shape, dtype and backend. */
export function zerosLike(t: Tensor, options: Omit<CreateOptions, 'backend'> = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, backend: t.backend, ...options });
}

/** Ones with `t`'s shape, dtype and backend. */
export function onesLike(t: Tensor, options: Omit<CreateOptions, 'backend'> = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, backend: t.backend, ...options });
}

/** `value` everywhere, with `t`'s shape, dtype and backend. */
export function fullLike(t: Tensor, value: number, options: Omit<CreateOptions, 'backend'> = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, backend: t.backend, ...options });
}

/**
 * `start, start+step, …` up to `end` (exclusive). With one argument, `arange(n)` is 0..n-1.
 * int32 when every argument is an integer, float32 otherwise (or `options.dtype`).
 */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new RangeError(`arange: step must be a finite non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return tensor(toHost(values, dtype, 'arange') as Float32Array, { ...options, dtype, shape: [n] });
}

/** `steps` evenly spaced values from `start` to `end` inclusive. */
export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const values = new Float64Array(steps);
  for (let i = 0; i < steps; i++) values[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  const dtype = options.dtype ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`linspace: dtype must be float32 or float16, got ${dtype}`);
  return tensor(Float32Array.from(values), { ...options, dtype, shape: [steps] });
}

/** The n×m identity matrix (m defaults to n). */
export function eye(n: number, m = n, options: CreateOptions = {}): Tensor {
  checkShape([n, m], 'eye');
  const values = new Float32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) values[i * m + i] = 1;
  return tensor(values, { ...options, dtype: options.dtype ?? 'float32', shape: [n, m] });
}

function randomTensor(
  op: 'rand' | 'randn' | 'randint',
  shape: readonly number[],
  options: CreateOptions,
  params: { low?: number; high?: number; mean?: number; std?: number },
  kind: 'uniform' | 'normal' | 'randint',
): Tensor {
  const backend = resolveBackend(options.backend);
  const s = checkShape(shape, op);
  const dtype = options.dtype ?? (kind === 'randint' ? 'int32' : 'float32');
  if (kind === 'randint' ? dtype !== 'int32' && dtype !== 'uint32' : !isFloat(dtype)) {
    throw new DTypeError(
      `${op}: dtype ${dtype} is not supported (${kind === 'randint' ? 'int32 or uint32' : 'float32 or float16'})`,
    );
  }
  return dispatch(op, [], { shape: s, dtype, ...params }, () => {
    const t = empty(backend, s, dtype, options.usage);
    const { seed, counter } = takeCounter(t.size);
    if (t.size > 0) backend.random(t.view_(), { kind, seed, counter, ...params });
    return t;
  });
}

/** Uniform samples in [low, high) (default [0, 1)), from the seeded generator (`manualSeed`). */
export function rand(
  shape: readonly number[],
  options: CreateOptions & { low?: number; high?: number } = {},
): Tensor {
  const { low = 0, high = 1 } = options;
  if (!(high > low)) throw new RangeError(`rand: need high > low, got [${low}, ${high})`);
  return randomTensor('rand', shape, options, { low, high }, 'uniform');
}

/** Normal samples with `mean` (0) and `std` (1), from the seeded generator. */
export function randn(
  shape: readonly number[],
  options: CreateOptions & { mean?: number; std?: number } = {},
): Tensor {
  const { mean = 0, std = 1 } = options;
  if (!(std >= 0)) throw new RangeError(`randn: std must be >= 0, got ${std}`);
  return randomTensor('randn', shape, options, { mean, std }, 'normal');
}

/** Uniform integers in [low, high), from the seeded generator. */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  options: CreateOptions = {},
): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low || high - low > 2 ** 32) {
    throw new RangeError(`randint: need integers low < high with high - low <= 2^32, got [${low}, ${high})`);
  }
  return randomTensor('randint', shape, options, { low, high }, 'randint');
}
