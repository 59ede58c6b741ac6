/** Formats a shape the way every error message prints it: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A shape mismatch or an invalid shape argument. The message names the op, the shapes and the fix. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A dtype the op does not accept, or two operands whose dtypes differ. */
export class DTypeError extends TypeError {
  override name = 'DTypeError';
}

/** A tensor used after `dispose()`. */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/** An index out of range (in `gather`, `embedding`, `slice` …). */
export class IndexError extends RangeError {
  override name = 'IndexError';
}

/** No usable backend (e.g. `webgpu` requested but no adapter), or a device error (validation, OOM, device lost). */
export class BackendError extends Error {
  override name = 'BackendError';
}
