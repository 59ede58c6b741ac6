/**
 * Conversion between safetensors entries and `@kiln/tensor` tensors. Pure (no Node imports;
 * public as `@kiln/tensor/safetensors`).
 *
 * Loading maps each safetensors dtype onto a Kiln dtype:
 *
 * | safetensors          | Kiln                                                           |
 * |----------------------|----------------------------------------------------------------|
 * | F32                  | float32                                                        |
 * | F16                  | float16, or float32 with `{ float16: 'float32' }`              |
 * | BF16, F64            | float32 (widened / rounded)                                    |
 * | I32, I16, I8, U16, U8| int32                                                          |
 * | U32                  | uint32                                                         |
 * | I64 / U64            | int32 / uint32, with an error when a value does not fit        |
 * | BOOL                 | bool                                                           |
 * | F8_E4M3, F8_E5M2     | not supported (clear error)                                    |
 */
import {
  type CreateOptions,
  type DType,
  float16BitsToNumber,
  type HostArray,
  numberToFloat16Bits,
  type Tensor,
  tensor,
} from '../index.js';
import {
  type ParsedSafetensors,
  SAFETENSORS_ITEM_SIZE,
  type SafetensorsEntry,
  SafetensorsError,
  serializeSafetensors,
} from './safetensors-format.js';

/** Options for loading tensors. */
export interface LoadTensorsOptions extends Pick<CreateOptions, 'backend' | 'usage'> {
  /** Load F16 tensors as `float16` tensors (default) or widen them to `float32`. */
  float16?: 'float16' | 'float32';
  /** Load only these tensors (default all); a missing name is an error. */
  names?: readonly string[];
}

/** Options for saving tensors. */
export interface SaveTensorsOptions {
  /** Convert float32 tensors to this dtype on export (`'float16'` halves the file; overflow is an error). Other dtypes are stored as they are. */
  dtype?: 'float16';
  /** String metadata for the `__metadata__` block (e.g. `{ format: 'pt' }`). */
  metadata?: Record<string, string>;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A DataView over an entry's bytes. */
function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads little-endian 4-byte elements into `out` (a plain copy on little-endian hosts). */
function readFourByte<T extends Float32Array | Int32Array | Uint32Array>(bytes: Uint8Array, out: T): T {
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
    return out;
  }
  const view = viewOf(bytes);
  for (let i = 0; i < out.length; i++) {
    out[i] =
      out instanceof Float32Array
        ? view.getFloat32(i * 4, true)
        : out instanceof Int32Array
          ? view.getInt32(i * 4, true)
          : view.getUint32(i * 4, true);
  }
  return out;
}

/** Reads a 64-bit integer tensor into a 32-bit array, failing on the first value that does not fit. */
function narrow64(entry: SafetensorsEntry, name: string, signed: boolean): Int32Array | Uint32Array {
  const count = entry.data.byteLength / 8;
  const out = signed ? new Int32Array(count) : new Uint32Array(count);
  const [lo, hi] = signed ? [-(2n ** 31n), 2n ** 31n - 1n] : [0n, 2n ** 32n - 1n];
  const view = viewOf(entry.data);
  for (let i = 0; i < count; i++) {
    const v = signed ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
    if (v < lo || v > hi) {
      throw new SafetensorsError(
        `safetensors: tensor '${name}' (${entry.dtype}) has value ${v} at flat index ${i}, outside the ${signed ? 'int32' : 'uint32'} range Kiln loads it into`,
      );
    }
    out[i] = Number(v);
  }
  return out;
}

/**
 * Decodes an entry's bytes to a Kiln dtype and host array (see the table in the file comment).
 * For F16 with `float16: 'float16'` the dtype is `float16` and the values are the exact halves,
 * widened to a Float32Array as `@kiln/tensor` holds them on the host.
 */
export function decodeEntry(
  entry: SafetensorsEntry,
  name: string,
  options: Pick<LoadTensorsOptions, 'float16'> = {},
): { dtype: DType; data: HostArray } {
  const bytes = entry.data;
  const view = viewOf(bytes);
  const count = bytes.byteLength / SAFETENSORS_ITEM_SIZE[entry.dtype];
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', data: readFourByte(bytes, new Float32Array(count)) };
    case 'I32':
      return { dtype: 'int32', data: readFourByte(bytes, new Int32Array(count)) };
    case 'U32':
      return { dtype: 'uint32', data: readFourByte(bytes, new Uint32Array(count)) };
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = float16BitsToNumber(view.getUint16(i * 2, true));
      return { dtype: options.float16 === 'float32' ? 'float32' : 'float16', data: out };
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32, so widening is exact.
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return { dtype: 'float32', data: new Float32Array(bits.buffer) };
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return { dtype: 'float32', data: out };
    }
    case 'I64':
      return { dtype: 'int32', data: narrow64(entry, name, true) };
    case 'U64':
      return { dtype: 'uint32', data: narrow64(entry, name, false) };
    case 'I16':
    case 'I8':
    case 'U16':
    case 'U8': {
      const out = new Int32Array(count);
      const read = {
        I16: (i: number) => view.getInt16(i * 2, true),
        I8: (i: number) => view.getInt8(i),
        U16: (i: number) => view.getUint16(i * 2, true),
        U8: (i: number) => view.getUint8(i),
      }[entry.dtype];
      for (let i = 0; i < count; i++) out[i] = read(i);
      return { dtype: 'int32', data: out };
    }
    case 'BOOL': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = bytes[i] ? 1 : 0;
      return { dtype: 'bool', data: out };
    }
    default:
      throw new SafetensorsError(
        `safetensors: tensor '${name}' has dtype ${entry.dtype}, which Kiln cannot load; convert it to F16, BF16 or F32 first`,
      );
  }
}

/**
 * Creates a `@kiln/tensor` tensor for each entry of a parsed file (or the ones in `names`).
 * The caller owns the tensors. On error, tensors created so far are disposed.
 */
export function tensorsFromSafetensors(
  parsed: ParsedSafetensors,
  options: LoadTensorsOptions = {},
): Record<string, Tensor> {
  const names = options.names ?? [...parsed.tensors.keys()];
  const out: Record<string, Tensor> = {};
  try {
    for (const name of names) {
      const entry = parsed.tensors.get(name);
      if (!entry) {
        throw new SafetensorsError(
          `safetensors: no tensor named '${name}'; the file has ${[...parsed.tensors.keys()].slice(0, 10).join(', ')}${parsed.tensors.size > 10 ? ', …' : ''}`,
        );
      }
      const { dtype, data } = decodeEntry(entry, name, options);
      out[name] = tensor(data, { dtype, shape: entry.shape, backend: options.backend, usage: options.usage });
    }
  } catch (error) {
    for (const t of Object.values(out)) t.dispose();
    throw error;
  }
  return out;
}

/** Little-endian bytes of a typed array (a view on little-endian hosts, a swapped copy otherwise). */
function littleEndianBytes(
  array: Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array,
): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (LITTLE_ENDIAN_HOST || array.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  const size = array.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += size)
    for (let b = 0; b < size; b++) out[i + b] = bytes[i + size - 1 - b];
  return out;
}

/** float32 values → F16 bits, rejecting finite values that would overflow to infinity. */
function toFloat16Bits(values: Float32Array, name: string): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const bits = numberToFloat16Bits(values[i]);
    if ((bits & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) {
      throw new SafetensorsError(
        `safetensors: tensor '${name}' has value ${values[i]} at flat index ${i}, beyond the float16 range (±65504); export it as float32`,
      );
    }
    out[i] = bits;
  }
  return out;
}

/** Reads a tensor back from its backend and encodes it as a safetensors entry. */
export async function entryFromTensor(
  t: Tensor,
  name: string,
  options: Pick<SaveTensorsOptions, 'dtype'> = {},
): Promise<SafetensorsEntry> {
  const shape = [...t.shape];
  const host = await t.data();
  switch (t.dtype) {
    case 'float32':
      if (options.dtype === 'float16')
        return { dtype: 'F16', shape, data: littleEndianBytes(toFloat16Bits(host as Float32Array, name)) };
      return { dtype: 'F32', shape, data: littleEndianBytes(host as Float32Array) };
    case 'float16':
      // Host values are exact halves, so this conversion is lossless.
      return { dtype: 'F16', shape, data: littleEndianBytes(toFloat16Bits(host as Float32Array, name)) };
    case 'int32':
      return { dtype: 'I32', shape, data: littleEndianBytes(host as Int32Array) };
    case 'uint32':
      return { dtype: 'U32', shape, data: littleEndianBytes(host as Uint32Array) };
    case 'bool':
      return { dtype: 'BOOL', shape, data: host as Uint8Array };
    default:
      throw new SafetensorsError(
        `safetensors: tensor '${name}' has dtype ${String(t.dtype)}, which cannot be saved`,
      );
  }
}

/**
 * Reads tensors back from their backends (`await t.data()`) and encodes them as safetensors
 * entries, in the order given. Tensors are not disposed.
 */
export async function safetensorsEntriesFromTensors(
  tensors: Record<string, Tensor>,
  options: Pick<SaveTensorsOptions, 'dtype'> = {},
): Promise<[string, SafetensorsEntry][]> {
  if (options.dtype !== undefined && options.dtype !== 'float16') {
    throw new SafetensorsError(
      `safetensors: export dtype must be 'float16' or omitted, got ${JSON.stringify(options.dtype)}`,
    );
  }
  const entries: [string, SafetensorsEntry][] = [];
  for (const [name, t] of Object.entries(tensors))
    entries.push([name, await entryFromTensor(t, name, options)]);
  return entries;
}

/**
 * Serialises tensors to a safetensors file in memory. Tensors are not disposed. See
 * `serializeSafetensorsParts` for the order of the data.
 */
export async function tensorsToSafetensors(
  tensors: Record<string, Tensor>,
  options: SaveTensorsOptions = {},
): Promise<Uint8Array> {
  return serializeSafetensors(await safetensorsEntriesFromTensors(tensors, options), options.metadata);
}
