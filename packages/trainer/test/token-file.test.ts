import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crc32,
  decodeTokenFile,
  encodeTokenFile,
  openTokenFile,
  readTokenFile,
  TOKEN_FILE_FIXED_HEADER_BYTES,
  TokenFileError,
  writeTokenFile,
} from '../src/node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-tokens-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sample = [0, 1, 50256, 42, 7];

describe('encodeTokenFile / decodeTokenFile', () => {
  it('round-trips tokens and metadata, with the documented header layout', () => {
    const bytes = encodeTokenFile(sample, {
      vocabSize: 50257,
      metadata: { tokenizer: 'gpt2', source: 'test' },
    });
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('KILNTOK\0');
    expect(view.getUint32(8, true)).toBe(1); // version
    expect(view.getUint32(12, true)).toBe(2); // uint16
    expect(view.getBigUint64(16, true)).toBe(5n);
    expect(view.getUint32(24, true)).toBe(50257);
    const metadataLength = view.getUint32(28, true);
    const dataOffset = Math.ceil((TOKEN_FILE_FIXED_HEADER_BYTES + metadataLength) / 8) * 8;
    expect(bytes.length).toBe(dataOffset + 5 * 2);
    expect(view.getUint32(32, true)).toBe(crc32(bytes.subarray(dataOffset)));
    expect(view.getUint16(dataOffset + 2 * 2, true)).toBe(50256);

    const { header, tokens } = decodeTokenFile(bytes);
    expect(tokens).toBeInstanceOf(Uint16Array);
    expect([...tokens]).toEqual(sample);
    expect(header).toMatchObject({
      version: 1,
      dtype: 'uint16',
      tokenCount: 5,
      vocabSize: 50257,
      dataOffset,
    });
    expect(header.metadata).toEqual({ tokenizer: 'gpt2', source: 'test' });
  });

  it('uses uint16 up to a 65 536-token vocabulary and uint32 above', () => {
    expect(decodeTokenFile(encodeTokenFile([65535], { vocabSize: 65536 })).header.dtype).toBe('uint16');
    const big = decodeTokenFile(encodeTokenFile([100276, 3], { vocabSize: 100277 }));
    expect(big.header.dtype).toBe('uint32');
    expect(big.tokens).toBeInstanceOf(Uint32Array);
    expect([...big.tokens]).toEqual([100276, 3]);
  });

  it('accepts typed arrays, empty files and unaligned input buffers', () => {
    expect([
      ...decodeTokenFile(encodeTokenFile(new Uint32Array([3, 2, 1]), { vocabSize: 4 })).tokens,
    ]).toEqual([3, 2, 1]);
    expect(decodeTokenFile(encodeTokenFile([], { vocabSize: 10 })).tokens.length).toBe(0);
    const bytes = encodeTokenFile([9, 8, 7], { vocabSize: 70000 });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect([...decodeTokenFile(shifted.subarray(1)).tokens]).toEqual([9, 8, 7]);
  });

  it('rejects tokens outside the vocabulary and bad options', () => {
    expect(() => encodeTokenFile([1, 2, 10], { vocabSize: 10 })).toThrow(
      /token 10 at index 2 is not an id in \[0, 10\)/,
    );
    expect(() => encodeTokenFile([1.5], { vocabSize: 10 })).toThrow(/token 1.5 at index 0/);
    expect(() => encodeTokenFile([-1], { vocabSize: 10 })).toThrow(/token -1/);
    expect(() => encodeTokenFile([1], { vocabSize: 0 })).toThrow(
      /vocabSize must be an integer in \[1, 2147483648\]/,
    );
    expect(() => encodeTokenFile([1], { vocabSize: 2 ** 31 + 1 })).toThrow(/vocabSize/);
    expect(() => encodeTokenFile([1], { vocabSize: 5, metadata: [] as never })).toThrow(
      /metadata must be a plain JSON object/,
    );
    expect(() => encodeTokenFile([1], { vocabSize: 5, metadata: { big: 'x'.repeat(1 << 20) } })).toThrow(
      /more than the 1048576-byte limit/,
    );
  });
});

describe('decodeTokenFile errors', () => {
  const good = () => encodeTokenFile([1, 2, 3, 4], { vocabSize: 1000, metadata: { tokenizer: 'test' } });
  const dataOffset = (bytes: Uint8Array) => bytes.length - 8;

  it('reports a wrong magic with what was found and what was expected', () => {
    const bytes = good();
    bytes.set(new TextEncoder().encode('PK\x03\x04abcd'), 0);
    expect(() => decodeTokenFile(bytes, { source: 'x.bin' })).toThrow(TokenFileError);
    expect(() => decodeTokenFile(bytes, { source: 'x.bin' })).toThrow(
      'token file x.bin: wrong magic: found "PK..abcd" (50 4b 03 04 61 62 63 64), expected "KILNTOK\\0"; this is not a Kiln token file',
    );
  });

  it('reports an unsupported version, found and expected', () => {
    const bytes = good();
    new DataView(bytes.buffer).setUint32(8, 2, true);
    expect(() => decodeTokenFile(bytes)).toThrow(
      /unsupported format version 2, expected 1; upgrade @kiln\/trainer/,
    );
    new DataView(bytes.buffer).setUint32(8, 0, true);
    expect(() => decodeTokenFile(bytes)).toThrow(
      /unsupported format version 0, expected 1; re-create the file/,
    );
  });

  it('reports truncated files and trailing bytes with the sizes involved', () => {
    const bytes = good();
    expect(() => decodeTokenFile(bytes.subarray(0, bytes.length - 1))).toThrow(
      new RegExp(
        `truncated: the header says 4 uint16 tokens from byte ${dataOffset(bytes)} \\(${bytes.length} bytes in all\\), but the file is ${bytes.length - 1} bytes`,
      ),
    );
    const longer = new Uint8Array(bytes.length + 2);
    longer.set(bytes);
    expect(() => decodeTokenFile(longer)).toThrow(/has trailing bytes/);
    expect(() => decodeTokenFile(bytes.subarray(0, 20))).toThrow(
      /truncated header: found 20 bytes, expected at least 40/,
    );
    expect(() => decodeTokenFile(bytes.subarray(0, 45))).toThrow(
      /truncated header: the metadata block ends at byte/,
    );
    expect(() => decodeTokenFile(bytes.subarray(0, 3))).toThrow(/too short to be a token file/);
  });

  it('detects corrupted data through the checksum (unless disabled)', () => {
    const bytes = good();
    bytes[bytes.length - 1] ^= 0x40;
    expect(() => decodeTokenFile(bytes)).toThrow(
      /checksum mismatch: token data has CRC-32 0x[0-9a-f]{8}, header says 0x[0-9a-f]{8}/,
    );
    expect(decodeTokenFile(bytes, { verifyChecksum: false }).tokens.length).toBe(4);
  });

  it('detects corrupt header fields and metadata', () => {
    const corrupt = (offset: number, value: number) => {
      const bytes = good();
      new DataView(bytes.buffer).setUint32(offset, value, true);
      return bytes;
    };
    expect(() => decodeTokenFile(corrupt(12, 3))).toThrow(
      /token width is 3 bytes, expected 2 \(uint16\) or 4 \(uint32\)/,
    );
    expect(() => decodeTokenFile(corrupt(12, 4))).toThrow(
      /token width 4 does not match vocabulary size 1000 \(expected uint16\)/,
    );
    expect(() => decodeTokenFile(corrupt(24, 0))).toThrow(/vocabulary size 0 is outside/);
    expect(() => decodeTokenFile(corrupt(28, 5_000_000))).toThrow(
      /metadata length 5000000 exceeds the 1048576-byte limit/,
    );
    expect(() => decodeTokenFile(corrupt(36, 1))).toThrow(/reserved header field is 1, expected 0/);
    const badJson = good();
    badJson[TOKEN_FILE_FIXED_HEADER_BYTES] = 0x5b; // '{' -> '['
    expect(() => decodeTokenFile(badJson)).toThrow(/metadata block is not valid UTF-8 JSON/);
    const huge = good();
    new DataView(huge.buffer).setBigUint64(16, 2n ** 60n, true);
    expect(() => decodeTokenFile(huge)).toThrow(/token count \d+ is impossibly large/);
  });
});

describe('token files on disk', () => {
  it('writes atomically and reads back', async () => {
    const path = join(dir, 'train.kilntok');
    await writeTokenFile(path, sample, { vocabSize: 50257, metadata: { tokenizer: 'gpt2' } });
    await writeTokenFile(path, [3, 1, 4, 1, 5], { vocabSize: 50257 }); // replaces it
    expect(await readdir(dir)).toEqual(['train.kilntok']);
    const { header, tokens } = await readTokenFile(path);
    expect([...tokens]).toEqual([3, 1, 4, 1, 5]);
    expect(header.metadata).toEqual({});
  });

  it('leaves the old file untouched when the new tokens are invalid', async () => {
    const path = join(dir, 'keep.kilntok');
    await writeTokenFile(path, [1, 2], { vocabSize: 3 });
    await expect(writeTokenFile(path, [1, 5], { vocabSize: 3 })).rejects.toThrow(/token 5/);
    expect([...(await readTokenFile(path)).tokens]).toEqual([1, 2]);
  });

  it('opens large files for random access and validates size up front', async () => {
    const path = join(dir, 'big.kilntok');
    const tokens = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 70000);
    await writeTokenFile(path, tokens, { vocabSize: 70000, metadata: { source: 'primes' } });
    const file = await openTokenFile(path);
    try {
      expect(file.header).toMatchObject({
        dtype: 'uint32',
        tokenCount: 1000,
        metadata: { source: 'primes' },
      });
      expect([...(await file.read(10, 5))]).toEqual(tokens.slice(10, 15));
      expect((await file.read(1000, 0)).length).toBe(0);
      await expect(file.read(998, 5)).rejects.toThrow(
        /cannot read 5 tokens from index 998; the file has 1000 tokens/,
      );
      await file.verifyChecksum();
    } finally {
      await file.close();
    }

    const bytes = await readFile(path);
    bytes[bytes.length - 3] ^= 1;
    await writeFile(path, bytes);
    await using corrupt = await openTokenFile(path);
    await expect(corrupt.verifyChecksum()).rejects.toThrow(/checksum mismatch/);
    await writeFile(path, bytes.subarray(0, bytes.length - 4));
    await expect(openTokenFile(path)).rejects.toThrow(new RegExp(`token file ${path}: truncated`));
    await expect(readTokenFile(path)).rejects.toThrow(/truncated/);
  });
});
