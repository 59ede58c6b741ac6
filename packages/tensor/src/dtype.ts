/**
 * Element types and the typed arrays that hold them on the host.
 *
 * float16 is a storage type: it is computed in float32 and rounded on store. On the host it is
 * always read back widened to a `Float32Array` (so code never needs `Float16Array`).
 * bool is one byte per element on the host (`Uint8Array`, 0 or 1).
 */
export type DType = 'float32' | 'float16' | 'int32' | 'uint32' | 'bool';

/** All dtypes, for validation and iteration. */
export const DTYPES: readonly DType[] = ['float32', 'float16', 'int32', 'uint32', 'bool'];

/** The host typed array that `data()` returns for each dtype. */
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint8Array;

/** Maps a dtype to its host array type. */
export type HostArrayOf<D extends DType> = D extends 'float32' | 'float16'
  ? Float32Array
  : D extends 'int32'
    ? Int32Array
    : D extends 'uint32'
      ? Uint32Array
      : Uint8Array;

/** True for float32 and float16. */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16';
}

/** True for int32 and uint32. */
export function isInteger(dtype: DType): boolean {
  return dtype === 'int32' || dtype === 'uint32';
}

/** Bytes per element as stored on a device (bool and float16 are backend-specific; this is the host size). */
export function hostItemSize(dtype: DType): number {
  return dtype === 'bool' ? 1 : 4;
}

/** Allocates a zeroed host array of `size` elements for `dtype`. */
export function allocHost(dtype: DType, size: number): HostArray {
  switch (dtype) {
    case 'float32':
    case 'float16':
      return new Float32Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'uint32':
      return new Uint32Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
}

/** Throws unless `dtype` is one of {@link DTYPES}. */
export function assertDType(dtype: unknown, where: string): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) {
    throw new TypeError(`${where}: unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.join(', ')}`);
  }
}

const f16round: (x: number) => number =
  (Math as unknown as { f16round?: (x: number) => number }).f16round ?? roundToFloat16Fallback;

/** Rounds a number to the nearest float16 value (round-to-nearest-even), keeping it a JS number. */
export function roundToFloat16(x: number): number {
  return f16round(x);
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
function roundToFloat16Fallback(x: number): number {
  return float16BitsToNumber(numberToFloat16Bits(x));
}

/** Encodes a number as IEEE-754 binary16 bits (round to nearest even; overflow to ±Infinity). */
export function numberToFloat16Bits(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half; // may carry into the exponent, which is the correct rounding
  return sign | e;
}

/** Decodes IEEE-754 binary16 bits to a number. */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
