// Argument checks shared by the losses: every tensor argument is named in the error, so a
// shape mistake in a training loop says which input and what shape was expected.
import { ShapeError, Tensor } from '@kiln/tensor';

/** Throws unless `t` is a float tensor; `who` is the function, `what` the argument. */
export function requireFloat(who: string, what: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${who}: ${what} must be a Tensor, got ${typeof t}`);
  if (t.dtype !== 'float32' && t.dtype !== 'float16') {
    throw new TypeError(`${who}: ${what} must be float32 or float16, got ${t.dtype}`);
  }
}

/** Throws unless every tensor of `named` has the shape of the first one. */
export function requireSameShape(who: string, named: Record<string, Tensor | undefined>): void {
  const entries = Object.entries(named).filter((e): e is [string, Tensor] => e[1] !== undefined);
  const [firstName, first] = entries[0];
  for (const [name, t] of entries.slice(1)) {
    if (t.shape.join() !== first.shape.join()) {
      throw new ShapeError(
        `${who}: ${name} has shape [${t.shape}] but ${firstName} has [${first.shape}]; they must match`,
      );
    }
  }
}

/** A mask as float32 0/1 (bool, int or float input). */
export function floatMask(mask: Tensor): Tensor {
  if (mask.dtype === 'bool') return mask.cast('float32');
  if (mask.dtype === 'float32') return mask;
  return mask.ne(0).cast('float32');
}

/** Throws unless `value` is a finite number satisfying `ok`; `rule` says what is allowed. */
export function requireNumber(
  who: string,
  what: string,
  value: unknown,
  ok: (v: number) => boolean,
  rule: string,
): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new RangeError(`${who}: ${what} must be ${rule}, got ${String(value)}`);
  }
}
