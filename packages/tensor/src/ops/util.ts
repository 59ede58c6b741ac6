import type { Backend } from '../backend.js';
import { secondCopyHint } from '../copies.js';
import { type DType, isFloat, isInteger } from '../dtype.js';
import { DTypeError, fmtShape } from '../errors.js';
import { contiguousStrides, type Shape, sizeOf } from '../shape.js';
import { Storage, Tensor } from '../tensor.js';

/** Allocates a fresh contiguous tensor (contents undefined until a kernel writes it). */
export function empty(
  backend: Backend,
  shape: Shape,
  dtype: DType,
  usage: 'activation' | 'parameter' = 'activation',
): Tensor {
  const size = sizeOf(shape);
  const handle = backend.allocate(dtype, size, usage);
  return new Tensor(new Storage(backend, handle, dtype, size), [...shape], dtype);
}

/** A new handle on `t`'s storage with different metadata (a view). */
export function makeView(t: Tensor, shape: Shape, strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, [...shape], t.dtype, [...strides], offset);
}

/** A 0-d tensor holding `value` on `backend`, written by a fill kernel (no host upload). */
export function scalarTensor(backend: Backend, value: number, dtype: DType): Tensor {
  const t = empty(backend, [], dtype);
  backend.fill(t.view_(), value);
  return t;
}

/**
 * Turns a JS number operand into a 0-d tensor of the other operand's dtype. An integer tensor
 * with a fractional number is an error rather than a silent truncation.
 */
export function operand(x: number | Tensor, like: Tensor, op: string): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number')
    throw new TypeError(`${op}: expected a Tensor or a number, got ${typeof x}${secondCopyHint()}`);
  if (isInteger(like.dtype) && !Number.isInteger(x) && Number.isFinite(x)) {
    throw new DTypeError(
      `${op}: scalar ${x} is not an integer but the tensor is ${like.dtype}; cast the tensor first with .cast('float32')`,
    );
  }
  return scalarTensor(like.backend, x, like.dtype);
}

/** Throws unless both tensors share a dtype (Kiln never promotes silently). */
export function sameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(
      `${op}: dtypes differ: ${fmtShape(a.shape)} ${a.dtype} and ${fmtShape(b.shape)} ${b.dtype}; cast one operand with .cast('${a.dtype}')`,
    );
  }
}

/** Throws unless `t` is a float tensor. */
export function requireFloat(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) {
    throw new DTypeError(
      `${op}: expects float32 or float16, got ${t.dtype} ${fmtShape(t.shape)}; cast with .cast('float32')`,
    );
  }
}

/** Throws unless `t` is int32 (indices). */
export function requireIndex(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32') {
    throw new DTypeError(
      `${op}: ${what} must be int32, got ${t.dtype} ${fmtShape(t.shape)}; cast with .cast('int32')`,
    );
  }
}

/** The default contiguous strides (re-exported for op files). */
export { contiguousStrides };

/** Runs `fn` with temporaries that are disposed afterwards, returning `fn`'s result. */
export function withTemps<R>(fn: (temp: <T extends Tensor>(t: T) => T) => R): R {
  const temps: Tensor[] = [];
  try {
    return fn((t) => {
      temps.push(t);
      return t;
    });
  } finally {
    for (const t of temps) t.dispose();
  }
}
