/**
 * The safetensors format at the byte level: parse and validate, and serialise. Pure functions
 * with no Node imports, so they work in browsers (public as `@kiln/tensor/safetensors`). Tensor
 * conversion is in `safetensors-tensors.ts`, file helpers in `safetensors-file.ts`.
 *
 * Layout (https://github.com/huggingface/safetensors):
 *
 * ```text
 * u64 little-endian N | N bytes of UTF-8 JSON header | data buffer
 * header = { "__metadata__": { string: string }?,
 *            name: { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, … }
 * ```
 *
 * Offsets are relative to the start of the data buffer; the tensors must cover it exactly (no
 * gaps, no overlaps). Data is little-endian and row-major.
 */

import { type DuplicateKey, findDuplicateKey } from './safetensors-header.js';

/** Element types defined by the safetensors format. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_ITEM_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Largest header accepted by default (the reference implementation's limit), so a corrupt length cannot exhaust memory. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** One tensor's raw data: dtype, shape and its little-endian bytes. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** Row-major little-endian element bytes (`product(shape) × itemsize` of them). */
  data: Uint8Array;
}

/** A parsed file: string metadata and the tensors in header order. */
export interface ParsedSafetensors {
  /** The `__metadata__` block (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name, in the order the header lists them; `data` are views into the parsed bytes. */
  tensors: Map<string, SafetensorsEntry>;
}

/** Options for {@link parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /** Names the file in error messages. */
  source?: string;
  /** Reject headers longer than this (default {@link SAFETENSORS_MAX_HEADER_BYTES}). */
  maxHeaderBytes?: number;
}

/** A safetensors file that is corrupt, truncated or invalid, or an entry that cannot be written. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Metadata key reserved by the format. */
const METADATA_KEY = '__metadata__';

function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(SAFETENSORS_ITEM_SIZE, value);
}

/** Product of a shape's dimensions, throwing if it is not a valid shape or too large to address. */
function elementCount(shape: unknown, where: string): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(
      `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  let n = 1;
  for (const d of shape) n *= d;
  if (!Number.isSafeInteger(n))
    throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} has too many elements`);
  return n;
}

/**
 * Parses and validates a safetensors file held in memory: header length bounded and within the
 * file, valid UTF-8 JSON object, string-to-string metadata, known dtypes, valid shapes, offsets
 * in bounds, `shape × itemsize` equal to each tensor's byte length, and tensors covering the
 * data buffer without gaps or overlaps; as the reference implementation, the header starts with
 * '{' and no name is given twice (a tensor, a metadata key or an entry's field). Errors name the tensor and the problem.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): ParsedSafetensors {
  const file = options.source ? `safetensors ${options.source}` : 'safetensors';
  const maxHeader = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  if (bytes.length < 8) {
    throw new SafetensorsError(
      `${file}: file is ${bytes.length} bytes, too short for the 8-byte header length; it is truncated or not safetensors`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeader)) {
    throw new SafetensorsError(
      `${file}: header length ${headerLength} exceeds the ${maxHeader}-byte limit; the file is corrupt or not safetensors`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    throw new SafetensorsError(
      `${file}: header length ${n} extends past the end of the ${bytes.length}-byte file; the file is truncated`,
    );
  }
  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(
      `${file}: header is not valid UTF-8 JSON (${(error as Error).message}); the file is corrupt`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(
      `${file}: header must be a JSON object, found ${Array.isArray(header) ? 'an array' : String(header)}`,
    );
  }
  // As the reference implementation: the header is the JSON object itself, from its first byte
  // (trailing spaces pad it to alignment; leading ones are not allowed).
  if (bytes[8] !== 0x7b) {
    throw new SafetensorsError(
      `${file}: the header must start with '{' (byte 8 is 0x${bytes[8].toString(16).padStart(2, '0')}); the file is corrupt or not safetensors`,
    );
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) throw new SafetensorsError(`${file}: ${describeDuplicate(duplicate)}`);
  const data = bytes.subarray(8 + n);
  const metadata = parseMetadata((header as Record<string, unknown>)[METADATA_KEY], file);

  const tensors = new Map<string, SafetensorsEntry>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) continue;
    const where = `${file}: tensor '${name}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      throw new SafetensorsError(`${where}: entry must be an object with dtype, shape and data_offsets`);
    }
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDType(dtype)) {
      throw new SafetensorsError(
        `${where}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(SAFETENSORS_ITEM_SIZE).join(', ')}`,
      );
    }
    const count = elementCount(shape, where);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw new SafetensorsError(
        `${where}: data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end)
      throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] has begin after end`);
    if (end > data.length) {
      throw new SafetensorsError(
        `${where}: data_offsets [${begin}, ${end}] extend past the end of the ${data.length}-byte data buffer; the file is truncated or corrupt`,
      );
    }
    const expected = count * SAFETENSORS_ITEM_SIZE[dtype];
    if (end - begin !== expected) {
      throw new SafetensorsError(
        `${where}: has ${end - begin} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${expected} (${count} elements × ${SAFETENSORS_ITEM_SIZE[dtype]} bytes)`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[], data: data.subarray(begin, end) });
    spans.push({ name, begin, end });
  }
  checkCoverage(spans, data.length, file);
  return { metadata, tensors };
}

/** What a name given twice means, in the header's own terms. */
function describeDuplicate({ path, key }: DuplicateKey): string {
  const refused =
    '; a name may appear once (a file that names something twice is refused rather than keeping one of them)';
  if (path.length === 0) {
    return key === METADATA_KEY
      ? `the header gives ${METADATA_KEY} twice${refused}`
      : `the header names tensor '${key}' twice${refused}`;
  }
  const [owner, ...rest] = path;
  const within = owner === METADATA_KEY ? METADATA_KEY : `tensor '${owner}'`;
  return `${within} gives '${[...rest, key].join('.')}' twice${refused}`;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(
      `${file}: __metadata__ must be an object of strings, got ${JSON.stringify(value)}`,
    );
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        `${file}: __metadata__ value for '${key}' must be a string, got ${JSON.stringify(v)}`,
      );
    }
  }
  return { ...(value as Record<string, string>) };
}

/** Checks the tensors tile the data buffer exactly: sorted by offset, each begins where the previous ended. */
function checkCoverage(
  spans: { name: string; begin: number; end: number }[],
  dataLength: number,
  file: string,
): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const span of spans) {
    if (span.begin < covered) {
      throw new SafetensorsError(
        `${file}: tensor '${span.name}' (bytes ${span.begin}..${span.end}) overlaps tensor '${previous}' (which ends at ${covered})`,
      );
    }
    if (span.begin > covered) {
      throw new SafetensorsError(
        `${file}: ${span.begin - covered} unused bytes before tensor '${span.name}' (bytes ${covered}..${span.begin}); the data buffer must have no holes`,
      );
    }
    covered = span.end;
    previous = span.name;
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(
      `${file}: ${dataLength - covered} bytes after the last tensor are not used by any tensor; the file is corrupt`,
    );
  }
}

/**
 * Serialises tensors into header and data chunks (a writer can write them without joining).
 *
 * Order: tensors keep their insertion order, except that larger element types come first
 * (8-byte, then 4-, 2-, 1-byte). Since the data buffer starts 8-byte aligned (the header is
 * padded with spaces), every tensor's data is then aligned to its element size, so readers can
 * view it without copying. The header lists tensors in the same order as the data.
 */
export function serializeSafetensorsParts(
  entries: Iterable<readonly [string, SafetensorsEntry]> | Record<string, SafetensorsEntry>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const list =
    Symbol.iterator in entries
      ? [...(entries as Iterable<readonly [string, SafetensorsEntry]>)]
      : Object.entries(entries);
  const names = new Set<string>();
  for (const [name, entry] of list) {
    const where = `safetensors: tensor '${name}'`;
    if (typeof name !== 'string' || name === '' || name === METADATA_KEY) {
      throw new SafetensorsError(
        `safetensors: invalid tensor name ${JSON.stringify(name)}; names must be non-empty and not '${METADATA_KEY}'`,
      );
    }
    if (names.has(name)) throw new SafetensorsError(`${where}: appears twice`);
    names.add(name);
    if (!isDType(entry?.dtype))
      throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(entry?.dtype)}`);
    const expected = elementCount(entry.shape, where) * SAFETENSORS_ITEM_SIZE[entry.dtype];
    if (!(entry.data instanceof Uint8Array) || entry.data.byteLength !== expected) {
      throw new SafetensorsError(
        `${where}: data must be a Uint8Array of ${expected} bytes for shape ${JSON.stringify(entry.shape)} ${entry.dtype}, got ${entry.data?.byteLength ?? typeof entry.data}`,
      );
    }
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string')
      throw new SafetensorsError(
        `safetensors: metadata value for '${key}' must be a string, got ${typeof value}`,
      );
  }
  const ordered = list
    .map((item, index) => ({ item, index }))
    .sort(
      (a, b) =>
        SAFETENSORS_ITEM_SIZE[b.item[1].dtype] - SAFETENSORS_ITEM_SIZE[a.item[1].dtype] || a.index - b.index,
    )
    .map(({ item }) => item);

  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, entry] of ordered) {
    header[name] = {
      dtype: entry.dtype,
      shape: [...entry.shape],
      data_offsets: [offset, offset + entry.data.byteLength],
    };
    offset += entry.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const head = new Uint8Array(8 + padded).fill(0x20); // spaces: the padding the format allows
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...ordered.map(([, entry]) => entry.data)];
}

/** Serialises tensors and metadata to a complete safetensors file in memory (see {@link serializeSafetensorsParts} for the order). */
export function serializeSafetensors(
  entries: Iterable<readonly [string, SafetensorsEntry]> | Record<string, SafetensorsEntry>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const parts = serializeSafetensorsParts(entries, metadata);
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
