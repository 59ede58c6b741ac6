import { allocHost, type DType, type HostArray, numberToFloat16Bits } from '../../dtype.js';

/** WGSL scalar types a storage buffer element can have. */
export type StorageType = 'f32' | 'f16' | 'i32' | 'u32';

/** WGSL types kernels compute in: float16 widens to f32, bool is a 0/1 u32. */
export type ComputeType = 'f32' | 'i32' | 'u32';

/**
 * How each dtype lives in a GPU buffer. WGSL has no 8-bit storage type, so bool takes a whole
 * u32 word (0 or 1); float16 is native f16 (only with the `shader-f16` feature).
 */
export function storageType(dtype: DType): StorageType {
  switch (dtype) {
    case 'float32':
      return 'f32';
    case 'float16':
      return 'f16';
    case 'int32':
      return 'i32';
    case 'uint32':
    case 'bool':
      return 'u32';
  }
}

/** The type a kernel computes `dtype` values in. */
export function computeType(dtype: DType): ComputeType {
  if (dtype === 'float32' || dtype === 'float16') return 'f32';
  return dtype === 'int32' ? 'i32' : 'u32';
}

/** Bytes per element in a GPU buffer. */
export function deviceItemSize(dtype: DType): number {
  return dtype === 'float16' ? 2 : 4;
}

/** Rounds a byte count up to a multiple of 4 (the granularity of buffer copies and mapping). */
export function align4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}

/**
 * Converts host data to the bytes a GPU buffer of `dtype` holds, padded to a multiple of 4 bytes.
 * float16 is rounded to nearest-even half bits; bool widens to u32 words.
 */
export function encodeHost(dtype: DType, data: HostArray): Uint8Array {
  const n = data.length;
  if (dtype === 'float16') {
    const half = new Uint16Array(align4(n * 2) / 2);
    for (let i = 0; i < n; i++) half[i] = numberToFloat16Bits(data[i]);
    return new Uint8Array(half.buffer);
  }
  if (dtype === 'bool') {
    const words = new Uint32Array(n);
    for (let i = 0; i < n; i++) words[i] = data[i] ? 1 : 0;
    return new Uint8Array(words.buffer);
  }
  return new Uint8Array(data.buffer, data.byteOffset, n * 4);
}

let halfTable: Float32Array | null = null;

/** Values of all 65536 half-precision bit patterns, built on first use (256 KiB). */
function float16Table(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = table;
  return table;
}

/**
 * Converts `size` elements read back from a GPU buffer into the host array of `dtype`
 * (Float32Array for float16, Uint8Array for bool). `bytes` may be longer than needed.
 */
export function decodeDevice(dtype: DType, bytes: ArrayBuffer, size: number): HostArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(bytes, 0, size).slice();
    case 'int32':
      return new Int32Array(bytes, 0, size).slice();
    case 'uint32':
      return new Uint32Array(bytes, 0, size).slice();
    case 'bool': {
      const words = new Uint32Array(bytes, 0, size);
      const out = allocHost('bool', size);
      for (let i = 0; i < size; i++) out[i] = words[i] ? 1 : 0;
      return out;
    }
    case 'float16': {
      const half = new Uint16Array(bytes, 0, size);
      const table = float16Table();
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = table[half[i]];
      return out;
    }
  }
}
