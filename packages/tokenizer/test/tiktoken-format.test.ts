import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { base64Encode } from '../src/base64.js';
import { Tokenizer, TokenizerFormatError } from '../src/index.js';

/** A tiny valid rank file: the 256 bytes, then "ab" and "abc". */
function tinyRankFile(): string {
  const lines: string[] = [];
  for (let b = 0; b < 256; b++) lines.push(`${base64Encode(Uint8Array.of(b))} ${b}`);
  lines.push(`${base64Encode(new TextEncoder().encode('ab'))} 256`);
  lines.push(`${base64Encode(new TextEncoder().encode('abc'))} 257`);
  return `${lines.join('\n')}\n`;
}

describe('.tiktoken files', () => {
  it('loads contents given as a string, bytes or ArrayBuffer', () => {
    const text = tinyRankFile();
    const bytes = new TextEncoder().encode(text);
    for (const source of [text, bytes, bytes.buffer]) {
      const tokenizer = Tokenizer.fromTiktoken(source, { pattern: 'cl100k' });
      expect(tokenizer.encode('abcab xyz')).toEqual([257, 256, 32, 120, 121, 122]);
      expect(tokenizer.vocabSize).toBe(258);
    }
  });

  it('loads a file path and a file URL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tiktoken-'));
    const path = join(dir, 'tiny.tiktoken');
    writeFileSync(path, tinyRankFile());
    expect(Tokenizer.fromTiktoken(path, { pattern: 'gpt2' }).encode('ab')).toEqual([256]);
    expect(Tokenizer.fromTiktoken(pathToFileURL(path), { pattern: 'gpt2' }).encode('abc')).toEqual([257]);
  });

  it('writes the same format back', () => {
    const tokenizer = Tokenizer.fromTiktoken(tinyRankFile(), { pattern: 'cl100k' });
    expect(tokenizer.toTiktoken()).toBe(tinyRankFile());
  });

  it('names the line of a corrupt entry', () => {
    const lines = tinyRankFile().split('\n');
    lines[10] = 'not-base64!! 10';
    expect(() => Tokenizer.fromTiktoken(lines.join('\n'), { pattern: 'cl100k' })).toThrow(/line 11/);
    lines[10] = 'Cg== ten';
    expect(() => Tokenizer.fromTiktoken(lines.join('\n'), { pattern: 'cl100k' })).toThrow(
      TokenizerFormatError,
    );
    const duplicated = `${tinyRankFile()}YWI= 256\n`;
    expect(() => Tokenizer.fromTiktoken(duplicated, { pattern: 'cl100k' })).toThrow(
      /line 259: rank 256 appears twice/,
    );
  });

  it('requires every single byte', () => {
    const withoutByte7 = tinyRankFile()
      .split('\n')
      .filter((line) => !line.endsWith(' 7'))
      .join('\n');
    expect(() => Tokenizer.fromTiktoken(withoutByte7, { pattern: 'cl100k' })).toThrow(/single byte 0x07/);
  });

  it('rejects unknown pattern names with the list of known ones', () => {
    expect(() => Tokenizer.fromTiktoken(tinyRankFile(), { pattern: 'cl200k' })).toThrow(
      /Unknown split pattern name "cl200k".*o200k/,
    );
  });

  it('accepts a custom pattern as a regex source or a RegExp', () => {
    const bySource = Tokenizer.fromTiktoken(tinyRankFile(), { pattern: '\\S+|\\s+' });
    expect(bySource.encode('abc abc')).toEqual([257, 32, 257]);
    const byRegExp = Tokenizer.fromTiktoken(tinyRankFile(), { pattern: /[a-c]+/ });
    // Text the custom pattern does not match is kept, as its own pieces.
    expect(byRegExp.decode(byRegExp.encode('abc, xyz ab'))).toBe('abc, xyz ab');
  });
});
