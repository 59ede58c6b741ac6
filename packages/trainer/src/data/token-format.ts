/**
 * The Kiln binary token file format, as pure byte-level functions (no Node imports, so they work
 * in browsers). The layout is documented in `docs/data-format.md`; in short, all integers are
 * little-endian:
 *
 * | offset | bytes | field                                                     |
 * |-------:|------:|-----------------------------------------------------------|
 * |      0 |     8 | magic `KILNTOK\0`                                         |
 * |      8 |     4 | u32 format version (1)                                    |
 * |     12 |     4 | u32 token width in bytes: 2 (uint16) or 4 (uint32)        |
 * |     16 |     8 | u64 token count                                           |
 * |     24 |     4 | u32 vocabulary size                                       |
 * |     28 |     4 | u32 metadata length in bytes                              |
 * |     32 |     4 | u32 CRC-32 (IEEE) of the token data                       |
 * |     36 |     4 | reserved, zero                                            |
 * |     40 |     M | metadata: a UTF-8 JSON object                             |
 * |        |       | zero padding up to a multiple of 8                        |
 * |      D |   N·w | the tokens                                                |
 */
import { crc32 } from './crc32.js';

/** The 8 bytes every token file starts with. */
export const TOKEN_FILE_MAGIC = 'KILNTOK\0';
/** The format version this code writes and the only one it reads. */
export const TOKEN_FILE_VERSION = 1;
/** Size of the fixed part of the header, before the metadata. */
export const TOKEN_FILE_FIXED_HEADER_BYTES = 40;
/** Upper bound on the metadata block, so a corrupt length field cannot make a reader allocate gigabytes. */
export const TOKEN_FILE_MAX_METADATA_BYTES = 1 << 20;
/** Largest vocabulary the format accepts: token ids must fit in an int32 for `TokenDataset`. */
export const TOKEN_FILE_MAX_VOCAB_SIZE = 2 ** 31;

/** Token element type on disk: uint16 when the vocabulary has at most 65 536 entries, else uint32. */
export type TokenDType = 'uint16' | 'uint32';

/** JSON values allowed in the metadata block. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Free-form metadata stored with the tokens, e.g. `{ tokenizer: 'gpt2', tokenizerHash: '…', source: 'tinyshakespeare.txt' }`. */
export type TokenFileMetadata = { [key: string]: JsonValue };

/** The decoded header of a token file. */
export interface TokenFileHeader {
  /** Format version (always {@link TOKEN_FILE_VERSION} for files this code accepts). */
  version: number;
  /** On-disk token type. */
  dtype: TokenDType;
  /** Number of tokens in the file. */
  tokenCount: number;
  /** Vocabulary size; every token is in `[0, vocabSize)`. */
  vocabSize: number;
  /** CRC-32 of the token data bytes. */
  checksum: number;
  /** The metadata block. */
  metadata: TokenFileMetadata;
  /** Byte offset at which the token data starts. */
  dataOffset: number;
  /** Total size of a well-formed file with this header. */
  fileBytes: number;
}

/** A decoded token file: its header and its tokens. */
export interface TokenFile {
  header: TokenFileHeader;
  tokens: Uint16Array | Uint32Array;
}

/** What {@link encodeTokenFile} needs besides the tokens. */
export interface TokenFileOptions {
  /** Vocabulary size; decides the on-disk dtype (uint16 when ≤ 65 536) and bounds every token. */
  vocabSize: number;
  /** Metadata to store with the tokens (JSON, at most 1 MiB encoded). */
  metadata?: TokenFileMetadata;
}

/** Options for decoding. */
export interface DecodeTokenFileOptions {
  /** Check the CRC-32 of the token data (default true; costs one pass over the data). */
  verifyChecksum?: boolean;
  /** Names the file in error messages (e.g. its path). */
  source?: string;
}

/** A token file that is corrupt, truncated, of another format or of an unsupported version. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/** Bytes per token for a dtype. */
export function tokenItemSize(dtype: TokenDType): 2 | 4 {
  return dtype === 'uint16' ? 2 : 4;
}

/** The on-disk dtype for a vocabulary size: uint16 when every id fits (≤ 65 536 entries), else uint32. */
export function tokenDTypeForVocab(vocabSize: number): TokenDType {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function label(source: string | undefined): string {
  return source ? `token file ${source}` : 'token file';
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function checkVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > TOKEN_FILE_MAX_VOCAB_SIZE) {
    throw new RangeError(
      `token file: vocabSize must be an integer in [1, ${TOKEN_FILE_MAX_VOCAB_SIZE}], got ${vocabSize}; pass the tokenizer's vocabulary size`,
    );
  }
}

/** Checks every token is an integer id below `vocabSize` and copies them into the on-disk dtype. */
function toTokenArray(
  tokens: ArrayLike<number>,
  vocabSize: number,
  dtype: TokenDType,
): Uint16Array | Uint32Array {
  const out = dtype === 'uint16' ? new Uint16Array(tokens.length) : new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
      throw new RangeError(
        `token file: token ${t} at index ${i} is not an id in [0, ${vocabSize}); check vocabSize matches the tokenizer that produced the tokens`,
      );
    }
    out[i] = t;
  }
  return out;
}

/** The bytes of a typed array in little-endian order (a view on little-endian hosts, a swapped copy otherwise). */
function littleEndianBytes(array: Uint16Array | Uint32Array): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < array.length; i++) {
    if (array.BYTES_PER_ELEMENT === 2) view.setUint16(i * 2, array[i], true);
    else view.setUint32(i * 4, array[i], true);
  }
  return out;
}

/**
 * Builds a token file in two parts (header+metadata+padding, then token data) so a file writer
 * can write the tokens without first copying them into one big buffer. Validates the tokens.
 */
export function encodeTokenFileParts(
  tokens: ArrayLike<number>,
  options: TokenFileOptions,
): { header: Uint8Array; data: Uint8Array } {
  checkVocabSize(options.vocabSize);
  const dtype = tokenDTypeForVocab(options.vocabSize);
  const data = littleEndianBytes(toTokenArray(tokens, options.vocabSize, dtype));
  const metadata = options.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new TypeError('token file: metadata must be a plain JSON object, e.g. { tokenizer: "gpt2" }');
  }
  const metadataBytes = new TextEncoder().encode(JSON.stringify(metadata));
  if (metadataBytes.length > TOKEN_FILE_MAX_METADATA_BYTES) {
    throw new RangeError(
      `token file: metadata is ${metadataBytes.length} bytes encoded, more than the ${TOKEN_FILE_MAX_METADATA_BYTES}-byte limit; store large data in a separate file`,
    );
  }
  const dataOffset = align8(TOKEN_FILE_FIXED_HEADER_BYTES + metadataBytes.length);
  const header = new Uint8Array(dataOffset); // zero-filled, so reserved field and padding are 0
  const view = new DataView(header.buffer);
  for (let i = 0; i < 8; i++) header[i] = TOKEN_FILE_MAGIC.charCodeAt(i);
  view.setUint32(8, TOKEN_FILE_VERSION, true);
  view.setUint32(12, tokenItemSize(dtype), true);
  view.setBigUint64(16, BigInt(tokens.length), true);
  view.setUint32(24, options.vocabSize >>> 0, true);
  view.setUint32(28, metadataBytes.length, true);
  view.setUint32(32, crc32(data), true);
  header.set(metadataBytes, TOKEN_FILE_FIXED_HEADER_BYTES);
  return { header, data };
}

/**
 * Encodes tokens as a complete token file in memory. Every token must be an integer in
 * `[0, vocabSize)`; the dtype is uint16 for vocabularies up to 65 536 entries, else uint32.
 */
export function encodeTokenFile(tokens: ArrayLike<number>, options: TokenFileOptions): Uint8Array {
  const { header, data } = encodeTokenFileParts(tokens, options);
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

function describeMagic(bytes: Uint8Array): string {
  const printable = Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `"${printable}" (${hex})`;
}

/**
 * Parses and validates the fixed 40-byte part of the header. Returns the fields plus the
 * metadata length, which says how many more bytes {@link parseTokenFileHeader} needs.
 */
export function parseTokenFileFixedHeader(
  bytes: Uint8Array,
  source?: string,
): Omit<TokenFileHeader, 'metadata' | 'dataOffset' | 'fileBytes'> & { metadataBytes: number } {
  const where = label(source);
  if (bytes.length < 8) {
    throw new TokenFileError(
      `${where}: file is ${bytes.length} bytes, too short to be a token file (the header alone is ${TOKEN_FILE_FIXED_HEADER_BYTES} bytes)`,
    );
  }
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== TOKEN_FILE_MAGIC.charCodeAt(i)) {
      throw new TokenFileError(
        `${where}: wrong magic: found ${describeMagic(bytes.subarray(0, 8))}, expected "KILNTOK\\0"; this is not a Kiln token file`,
      );
    }
  }
  if (bytes.length < TOKEN_FILE_FIXED_HEADER_BYTES) {
    throw new TokenFileError(
      `${where}: truncated header: found ${bytes.length} bytes, expected at least ${TOKEN_FILE_FIXED_HEADER_BYTES}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== TOKEN_FILE_VERSION) {
    throw new TokenFileError(
      `${where}: unsupported format version ${version}, expected ${TOKEN_FILE_VERSION}; ` +
        (version > TOKEN_FILE_VERSION
          ? 'upgrade @kiln/trainer to read it'
          : 're-create the file with this version of @kiln/trainer'),
    );
  }
  const width = view.getUint32(12, true);
  if (width !== 2 && width !== 4) {
    throw new TokenFileError(
      `${where}: token width is ${width} bytes, expected 2 (uint16) or 4 (uint32); the header is corrupt`,
    );
  }
  const dtype: TokenDType = width === 2 ? 'uint16' : 'uint32';
  const count = view.getBigUint64(16, true);
  if (count > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TokenFileError(`${where}: token count ${count} is impossibly large; the header is corrupt`);
  }
  const tokenCount = Number(count);
  const vocabSize = view.getUint32(24, true);
  if (vocabSize < 1 || vocabSize > TOKEN_FILE_MAX_VOCAB_SIZE) {
    throw new TokenFileError(
      `${where}: vocabulary size ${vocabSize} is outside [1, ${TOKEN_FILE_MAX_VOCAB_SIZE}]; the header is corrupt`,
    );
  }
  if (dtype !== tokenDTypeForVocab(vocabSize)) {
    throw new TokenFileError(
      `${where}: token width ${width} does not match vocabulary size ${vocabSize} (expected ${tokenDTypeForVocab(vocabSize)}); the header is corrupt`,
    );
  }
  const metadataBytes = view.getUint32(28, true);
  if (metadataBytes > TOKEN_FILE_MAX_METADATA_BYTES) {
    throw new TokenFileError(
      `${where}: metadata length ${metadataBytes} exceeds the ${TOKEN_FILE_MAX_METADATA_BYTES}-byte limit; the header is corrupt`,
    );
  }
  const checksum = view.getUint32(32, true);
  const reserved = view.getUint32(36, true);
  if (reserved !== 0) {
    throw new TokenFileError(
      `${where}: reserved header field is ${reserved}, expected 0; the header is corrupt`,
    );
  }
  return { version, dtype, tokenCount, vocabSize, checksum, metadataBytes };
}

/**
 * Parses and validates the whole header (fixed part + metadata). `bytes` must hold at least the
 * first `dataOffset` bytes of the file; `fileBytes`, when given, is checked against the size the
 * header implies so truncated or over-long files are reported here.
 */
export function parseTokenFileHeader(
  bytes: Uint8Array,
  fileBytes?: number,
  source?: string,
): TokenFileHeader {
  const where = label(source);
  const fixed = parseTokenFileFixedHeader(bytes, source);
  const metadataEnd = TOKEN_FILE_FIXED_HEADER_BYTES + fixed.metadataBytes;
  const dataOffset = align8(metadataEnd);
  if (bytes.length < dataOffset) {
    throw new TokenFileError(
      `${where}: truncated header: the metadata block ends at byte ${metadataEnd} (data at ${dataOffset}), but only ${bytes.length} bytes are present`,
    );
  }
  let metadata: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      bytes.subarray(TOKEN_FILE_FIXED_HEADER_BYTES, metadataEnd),
    );
    metadata = JSON.parse(text);
  } catch (error) {
    throw new TokenFileError(
      `${where}: metadata block is not valid UTF-8 JSON (${(error as Error).message}); the file is corrupt`,
    );
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new TokenFileError(
      `${where}: metadata block must be a JSON object, found ${Array.isArray(metadata) ? 'an array' : typeof metadata}`,
    );
  }
  for (let i = metadataEnd; i < dataOffset; i++) {
    if (bytes[i] !== 0)
      throw new TokenFileError(`${where}: non-zero padding byte at offset ${i}; the file is corrupt`);
  }
  const expectedBytes = dataOffset + fixed.tokenCount * tokenItemSize(fixed.dtype);
  if (fileBytes !== undefined && fileBytes !== expectedBytes) {
    const problem = fileBytes < expectedBytes ? 'truncated' : 'has trailing bytes';
    throw new TokenFileError(
      `${where}: ${problem}: the header says ${fixed.tokenCount} ${fixed.dtype} tokens from byte ${dataOffset} (${expectedBytes} bytes in all), but the file is ${fileBytes} bytes`,
    );
  }
  const { metadataBytes: _, ...rest } = fixed;
  return { ...rest, metadata: metadata as TokenFileMetadata, dataOffset, fileBytes: expectedBytes };
}

/**
 * Token values from little-endian bytes. Returns a view over `bytes` when the host is
 * little-endian and the data is aligned (no copy), else a copy.
 */
export function tokensFromBytes(bytes: Uint8Array, dtype: TokenDType): Uint16Array | Uint32Array {
  const width = tokenItemSize(dtype);
  const count = bytes.length / width;
  if (!Number.isInteger(count))
    throw new TokenFileError(`token data of ${bytes.length} bytes is not a whole number of ${dtype} tokens`);
  if (LITTLE_ENDIAN_HOST) {
    const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
    return width === 2
      ? new Uint16Array(aligned.buffer, aligned.byteOffset, count)
      : new Uint32Array(aligned.buffer, aligned.byteOffset, count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = width === 2 ? new Uint16Array(count) : new Uint32Array(count);
  for (let i = 0; i < count; i++)
    out[i] = width === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
  return out;
}

/** Throws unless `actual` (the CRC-32 of the token data) matches the header's checksum. */
export function checkTokenChecksum(header: TokenFileHeader, actual: number, source?: string): void {
  if (actual !== header.checksum) {
    throw new TokenFileError(
      `${label(source)}: checksum mismatch: token data has CRC-32 ${hex32(actual)}, header says ${hex32(header.checksum)}; the file is corrupt`,
    );
  }
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Decodes and validates a complete token file held in memory. The returned tokens may be a view
 * over `bytes` (no copy): do not modify `bytes` while using them.
 */
export function decodeTokenFile(bytes: Uint8Array, options: DecodeTokenFileOptions = {}): TokenFile {
  const header = parseTokenFileHeader(bytes, bytes.length, options.source);
  const data = bytes.subarray(header.dataOffset, header.fileBytes);
  if (options.verifyChecksum !== false) checkTokenChecksum(header, crc32(data), options.source);
  return { header, tokens: tokensFromBytes(data, header.dtype) };
}
