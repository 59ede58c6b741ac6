/**
 * Token files on disk (Node only). The byte format and its pure encoder/decoder live in
 * `token-format.ts`; this file adds atomic writing, whole-file reading and random-access reading
 * for files too large to load at once.
 */
import { open } from 'node:fs/promises';
import { writeFileAtomic } from '@kiln/tensor/node';
import { crc32 } from './crc32.js';
import {
  checkTokenChecksum,
  type DecodeTokenFileOptions,
  decodeTokenFile,
  encodeTokenFileParts,
  parseTokenFileFixedHeader,
  parseTokenFileHeader,
  TOKEN_FILE_FIXED_HEADER_BYTES,
  type TokenFile,
  TokenFileError,
  type TokenFileHeader,
  type TokenFileOptions,
  tokenItemSize,
  tokensFromBytes,
} from './token-format.js';

/**
 * Writes `tokens` as a token file at `path`, atomically: a reader sees either the previous file or
 * the complete new one, never a partial write. Validates every token against `vocabSize`.
 */
export async function writeTokenFile(
  path: string,
  tokens: ArrayLike<number>,
  options: TokenFileOptions,
): Promise<void> {
  const { header, data } = encodeTokenFileParts(tokens, options);
  await writeFileAtomic(path, [header, data]);
}

/** Reads and validates a whole token file (header, size, checksum unless disabled). */
export async function readTokenFile(
  path: string,
  options: Omit<DecodeTokenFileOptions, 'source'> = {},
): Promise<TokenFile> {
  const handle = await open(path, 'r');
  try {
    const buffer = await handle.readFile();
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    return decodeTokenFile(bytes, { ...options, source: path });
  } finally {
    await handle.close();
  }
}

/** An open token file: a validated header and random access to its tokens. Close it when done. */
export interface OpenTokenFile {
  /** The validated header (dtype, count, vocab size, metadata). */
  readonly header: TokenFileHeader;
  /** Reads `count` tokens starting at token index `start`. */
  read(start: number, count: number): Promise<Uint16Array | Uint32Array>;
  /** Streams through the token data and throws a {@link TokenFileError} if the checksum does not match. */
  verifyChecksum(): Promise<void>;
  /** Closes the file. */
  close(): Promise<void>;
  /** `await using file = await openTokenFile(path)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

async function readExactly(
  handle: Awaited<ReturnType<typeof open>>,
  position: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new TokenFileError(
        `token file ${path}: unexpected end of file at byte ${position + done}; the file is truncated`,
      );
    }
    done += bytesRead;
  }
  return buffer;
}

/**
 * Opens a token file for random access without loading it: validates the header and the file
 * size up front (so truncated files fail here), then reads token ranges on demand.
 */
export async function openTokenFile(path: string): Promise<OpenTokenFile> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const fixedBytes = await readExactly(handle, 0, Math.min(size, TOKEN_FILE_FIXED_HEADER_BYTES), path);
    const fixed = parseTokenFileFixedHeader(fixedBytes, path);
    const headerBytes = await readExactly(
      handle,
      0,
      Math.min(size, Math.ceil((TOKEN_FILE_FIXED_HEADER_BYTES + fixed.metadataBytes) / 8) * 8),
      path,
    );
    const header = parseTokenFileHeader(headerBytes, size, path);
    const width = tokenItemSize(header.dtype);

    return {
      header,
      async read(start, count) {
        if (
          !Number.isInteger(start) ||
          !Number.isInteger(count) ||
          start < 0 ||
          count < 0 ||
          start + count > header.tokenCount
        ) {
          throw new RangeError(
            `token file ${path}: cannot read ${count} tokens from index ${start}; the file has ${header.tokenCount} tokens`,
          );
        }
        const bytes = await readExactly(handle, header.dataOffset + start * width, count * width, path);
        return tokensFromBytes(bytes, header.dtype);
      },
      async verifyChecksum() {
        const chunkBytes = 1 << 24;
        let crc = 0;
        for (let at = header.dataOffset; at < header.fileBytes; at += chunkBytes) {
          crc = crc32(await readExactly(handle, at, Math.min(chunkBytes, header.fileBytes - at), path), crc);
        }
        checkTokenChecksum(header, crc, path);
      },
      close: () => handle.close(),
      [Symbol.asyncDispose]: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
