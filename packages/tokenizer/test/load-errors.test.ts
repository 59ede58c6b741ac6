// A garbled tokenizer.json on disk fails naming the file, not only "tokenizer.json".
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerFormatError } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-tokenizer-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Tokenizer.load errors', () => {
  it('names the file of a garbled tokenizer.json and says what was expected', async () => {
    const path = join(root, 'tokenizer.json');
    writeFileSync(path, '{"model": {"type": "BPE", "vocab": {"a": 0');
    const error = await Tokenizer.load(path).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(TokenizerFormatError);
    expect(error!.message).toContain(path);
    expect(error!.message).toMatch(/not JSON/);
  });

  it('names the file when the JSON is valid but not a byte-level BPE tokenizer', async () => {
    const path = join(root, 'other.json');
    writeFileSync(path, '{"model": {"type": "WordPiece"}}');
    await expect(Tokenizer.load(path)).rejects.toThrow(
      new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
    );
  });
});
