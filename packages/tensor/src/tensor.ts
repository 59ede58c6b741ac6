import type { Backend, View } from './backend.js';
import { registerCopy } from './copies.js';
import type { DType, HostArray } from './dtype.js';
import { DisposedError, fmtShape } from './errors.js';
import { trackInScope, trackLeak, untrackLeak } from './lifetime.js';
import * as el from './ops/elementwise.js';
import * as ix from './ops/indexing.js';
import * as join from './ops/join.js';
import * as la from './ops/linalg.js';
import * as nn from './ops/nn.js';
import * as red from './ops/reduce.js';
import * as vw from './ops/views.js';
import { contiguousStrides, isContiguous, type Shape, sizeOf } from './shape.js';

// Every copy of this package records itself, so a second copy is reported at start-up (copies.ts).
registerCopy(import.meta.url);

/**
 * Device memory shared by a tensor and all its views. Freed (returned to the backend's pool)
 * when the last tensor referring to it is disposed.
 */
export class Storage {
  /** Live tensor handles that refer to this storage. */
  refs = 0;
  /** Incremented by every in-place write (`assign`), whichever handle it went through. */
  version = 0;
  constructor(
    readonly backend: Backend,
    readonly handle: unknown,
    readonly dtype: DType,
    /** Elements. */
    readonly size: number,
  ) {}
}

let nextId = 1;
let liveTensors = 0;
const liveStorages = new Set<Storage>();

/** Live tensor handles and the distinct storages (bytes in `hostItemSize` units) behind them. */
export function liveCounts(): { tensors: number; storages: number; elements: number } {
  let elements = 0;
  for (const s of liveStorages) elements += s.size;
  return { tensors: liveTensors, storages: liveStorages.size, elements };
}

type NumberOrTensor = number | Tensor;

/**
 * An n-dimensional array on a backend. Views (`reshape`, `permute`, `slice`, `expand` …) share
 * storage and change only shape, strides and offset. Readback is async: `await t.data()`.
 *
 * Every op returns a new tensor that the caller owns: dispose it with `t.dispose()`, a
 * `using` declaration, or let an enclosing `scope()` do it.
 */
export class Tensor {
  /** Unique id (for debugging and leak reports). */
  readonly id = nextId++;
  #disposed = false;
  #leakToken: object | undefined;

  /**
   * Creates a handle on `storage`. Application code uses the creation functions (`tensor`,
   * `zeros`, …); the constructor is public for subclasses such as `@kiln/autograd`'s `Parameter`,
   * which wrap an existing tensor's storage (`new Sub(t.storage, t.shape, t.dtype, t.strides, t.offset)`).
   */
  constructor(
    /** The refcounted device memory behind this handle (shared by views). */
    readonly storage: Storage,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly strides: readonly number[] = contiguousStrides(shape),
    readonly offset = 0,
  ) {
    storage.refs++;
    liveTensors++;
    liveStorages.add(storage);
    trackInScope(this);
    this.#leakToken = trackLeak(this, this.id, `${fmtShape(shape)} ${dtype}`);
  }

  /**
   * Count of in-place writes (`assign`) to this tensor's storage through any handle or view, so
   * code that saved a tensor (autograd) can detect that it was modified since.
   */
  get version(): number {
    return this.storage.version;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }
  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }
  /** The backend holding the data. */
  get backend(): Backend {
    return this.storage.backend;
  }
  /** True after `dispose()`. */
  get isDisposed(): boolean {
    return this.#disposed;
  }
  /** True when the elements are laid out in row-major order with no gaps. */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Throws a clear error if the tensor was disposed. */
  assertAlive(op: string): void {
    if (this.#disposed) {
      throw new DisposedError(
        `${op}: tensor #${this.id} ${fmtShape(this.shape)} ${this.dtype} was used after dispose()`,
      );
    }
  }

  /** @internal The strided view kernels read. */
  view_(): View {
    return {
      storage: this.storage.handle,
      dtype: this.dtype,
      shape: this.shape,
      strides: this.strides,
      offset: this.offset,
    };
  }

  /** Releases this handle; the storage returns to the pool once no view refers to it. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    liveTensors--;
    untrackLeak(this.#leakToken);
    const s = this.storage;
    if (--s.refs === 0) {
      liveStorages.delete(s);
      s.backend.release(s.handle);
    }
  }

  /** `using t = …` disposes at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** A new handle on the same data; the data lives until every handle is disposed. Not an op. */
  alias(): Tensor {
    this.assertAlive('alias');
    return new Tensor(this.storage, this.shape, this.dtype, this.strides, this.offset);
  }

  // ---- readback -------------------------------------------------------------------------------

  /** The elements in row-major order (float16 widened to Float32Array, bool as Uint8Array). */
  async data(): Promise<HostArray> {
    this.assertAlive('data');
    await ix.flushIndexChecks();
    const full = this.offset === 0 && this.isContiguous && this.size === this.storage.size;
    if (full) return this.backend.download(this.storage.handle, this.dtype, this.size);
    const c = vw.copyContiguous(this);
    try {
      return await c.backend.download(c.storage.handle, c.dtype, c.size);
    } finally {
      c.dispose();
    }
  }

  /** The elements as nested arrays (booleans for bool; a number for a 0-d tensor). */
  async toArray(): Promise<any> {
    const flat = await this.data();
    const values: (number | boolean)[] =
      this.dtype === 'bool' ? Array.from(flat, (v) => v !== 0) : Array.from(flat);
    if (this.ndim === 0) return values[0];
    const build = (dim: number, start: number): any[] => {
      const n = this.shape[dim];
      if (dim === this.ndim - 1) return values.slice(start, start + n);
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, start + i * step));
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1)
      throw new Error(
        `item: tensor has ${this.size} elements ${fmtShape(this.shape)}; item() needs exactly one`,
      );
    const d = await this.data();
    return d[0];
  }

  /** Moves (copies) the data to another initialised backend. */
  async toBackend(backend: Backend): Promise<Tensor> {
    const { fromHost } = await import('./ops/create.js');
    return fromHost(await this.data(), this.shape, this.dtype, backend);
  }

  /** Short description: `Tensor([2,3], float32, webgpu)`. */
  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }

  // ---- views and layout -------------------------------------------------------------------------

  /** Same data, new shape (one dimension may be -1). Copies only when the strides do not allow a view. */
  reshape(shape: readonly number[]): Tensor {
    return vw.reshape(this, shape);
  }
  /** Like `reshape`, but throws instead of copying. */
  view(shape: readonly number[]): Tensor {
    return vw.view(this, shape);
  }
  /** Reorders dimensions. */
  permute(axes: readonly number[]): Tensor {
    return vw.permute(this, axes);
  }
  /** Swaps two dimensions (default: the last two). */
  transpose(a = -2, b = -1): Tensor {
    return vw.transpose(this, a, b);
  }
  /** Matrix transpose: swaps the last two dimensions (identity for 0-d and 1-d). */
  get T(): Tensor {
    return this.ndim < 2
      ? vw.permute(
          this,
          this.shape.map((_, i) => i),
        )
      : vw.transpose(this, -2, -1);
  }
  /** Elements `start` to `end` (exclusive) with `step` along `axis`; negative indices count from the end. */
  slice(axis: number, start: number, end?: number, step = 1): Tensor {
    return vw.slice(this, axis, start, end, step);
  }
  /** `length` elements from `start` along `axis`. */
  narrow(axis: number, start: number, length: number): Tensor {
    return vw.narrow(this, axis, start, length);
  }
  /** Broadcasts to `shape` without copying (stride 0 on repeated dims). */
  expand(shape: readonly number[]): Tensor {
    return vw.expand(this, shape);
  }
  /** Alias of `expand`. */
  broadcastTo(shape: readonly number[]): Tensor {
    return vw.expand(this, shape);
  }
  /** Removes size-1 dimensions (all, or the given ones). */
  squeeze(axes?: number | readonly number[]): Tensor {
    return vw.squeeze(this, axes);
  }
  /** Inserts a size-1 dimension at `axis`. */
  unsqueeze(axis: number): Tensor {
    return vw.unsqueeze(this, axis);
  }
  /** Merges dimensions `start`..`end` into one. */
  flatten(start = 0, end = -1): Tensor {
    return vw.flatten(this, start, end);
  }
  /** A row-major copy (or a new handle on the same data when already contiguous). */
  contiguous(): Tensor {
    return vw.contiguous(this);
  }
  /** Converts to another dtype (a new handle when the dtype is unchanged). */
  cast(dtype: DType): Tensor {
    return vw.cast(this, dtype);
  }
  /** Alias of `cast`. */
  to(dtype: DType): Tensor {
    return vw.cast(this, dtype);
  }
  /** Overwrites this tensor's elements in place with `src` (broadcast to this shape, cast to this dtype). */
  assign(src: Tensor | number): this {
    vw.assign(this, src);
    return this;
  }

  // ---- elementwise ------------------------------------------------------------------------------

  add(b: NumberOrTensor): Tensor {
    return el.add(this, b);
  }
  sub(b: NumberOrTensor): Tensor {
    return el.sub(this, b);
  }
  mul(b: NumberOrTensor): Tensor {
    return el.mul(this, b);
  }
  div(b: NumberOrTensor): Tensor {
    return el.div(this, b);
  }
  pow(b: NumberOrTensor): Tensor {
    return el.pow(this, b);
  }
  maximum(b: NumberOrTensor): Tensor {
    return el.maximum(this, b);
  }
  minimum(b: NumberOrTensor): Tensor {
    return el.minimum(this, b);
  }
  eq(b: NumberOrTensor): Tensor {
    return el.eq(this, b);
  }
  ne(b: NumberOrTensor): Tensor {
    return el.ne(this, b);
  }
  lt(b: NumberOrTensor): Tensor {
    return el.lt(this, b);
  }
  le(b: NumberOrTensor): Tensor {
    return el.le(this, b);
  }
  gt(b: NumberOrTensor): Tensor {
    return el.gt(this, b);
  }
  ge(b: NumberOrTensor): Tensor {
    return el.ge(this, b);
  }
  logicalAnd(b: NumberOrTensor): Tensor {
    return el.logicalAnd(this, b);
  }
  logicalOr(b: NumberOrTensor): Tensor {
    return el.logicalOr(this, b);
  }
  logicalNot(): Tensor {
    return el.logicalNot(this);
  }
  neg(): Tensor {
    return el.neg(this);
  }
  abs(): Tensor {
    return el.abs(this);
  }
  exp(): Tensor {
    return el.exp(this);
  }
  log(): Tensor {
    return el.log(this);
  }
  sqrt(): Tensor {
    return el.sqrt(this);
  }
  rsqrt(): Tensor {
    return el.rsqrt(this);
  }
  sin(): Tensor {
    return el.sin(this);
  }
  cos(): Tensor {
    return el.cos(this);
  }
  tanh(): Tensor {
    return el.tanh(this);
  }
  sigmoid(): Tensor {
    return el.sigmoid(this);
  }
  relu(): Tensor {
    return el.relu(this);
  }
  /** GELU; `approximate: 'tanh'` selects the tanh form (GPT-2), default is the exact erf form. */
  gelu(options?: { approximate?: 'none' | 'tanh' }): Tensor {
    return el.gelu(this, options);
  }
  silu(): Tensor {
    return el.silu(this);
  }
  square(): Tensor {
    return el.square(this);
  }
  sign(): Tensor {
    return el.sign(this);
  }
  reciprocal(): Tensor {
    return el.reciprocal(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return el.clamp(this, min, max);
  }

  // ---- reductions --------------------------------------------------------------------------------

  sum(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.sum(this, axes, keepDim);
  }
  mean(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.mean(this, axes, keepDim);
  }
  max(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.max(this, axes, keepDim);
  }
  min(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.min(this, axes, keepDim);
  }
  prod(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.prod(this, axes, keepDim);
  }
  argmax(axis?: number, keepDim = false): Tensor {
    return red.argmax(this, axis, keepDim);
  }
  argmin(axis?: number, keepDim = false): Tensor {
    return red.argmin(this, axis, keepDim);
  }
  var(axes?: number | readonly number[], options?: { correction?: number; keepDim?: boolean }): Tensor {
    return red.variance(this, axes, options);
  }
  logsumexp(axes?: number | readonly number[], keepDim = false): Tensor {
    return red.logsumexp(this, axes, keepDim);
  }
  cumsum(axis: number): Tensor {
    return red.cumsum(this, axis);
  }

  // ---- the rest ---------------------------------------------------------------------------------

  matmul(b: Tensor): Tensor {
    return la.matmul(this, b);
  }
  softmax(axis = -1): Tensor {
    return nn.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return nn.logSoftmax(this, axis);
  }
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    return join.split(this, sizes, axis);
  }
  chunk(chunks: number, axis = 0): Tensor[] {
    return join.chunk(this, chunks, axis);
  }
  gather(axis: number, index: Tensor): Tensor {
    return ix.gather(this, axis, index);
  }
  indexSelect(axis: number, index: Tensor): Tensor {
    return ix.indexSelect(this, axis, index);
  }
}
