// The `.tiktoken` rank file: one token per line, `<base64 of the token bytes> <rank>`. The rank is
// the token id and also its merge priority (lower merges first).
import { base64DecodeInto, base64Encode } from './base64.js';
import { TokenizerFormatError } from './errors.js';
import { TokenBytes } from './token-bytes.js';
import { utf8Decode } from './utf8.js';

/** Ranks above this are taken as corruption (they would need huge tables). */
const MAX_RANK = 1 << 24;

function corrupt(lineNumber: number, line: string, why: string): never {
  const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line;
  throw new TokenizerFormatError(
    `Corrupt .tiktoken file at line ${lineNumber}: ${why}, got ${JSON.stringify(shown)}.`,
  );
}

/**
 * Parses a `.tiktoken` file into token bytes by rank. Blank lines are skipped. Throws a
 * {@link TokenizerFormatError} naming the line for a malformed line or a rank given twice.
 */
export function parseTiktoken(contents: string | Uint8Array): TokenBytes {
  const text = typeof contents === 'string' ? contents : utf8Decode(contents);
  // Decoded base64 is shorter than its text, so the text length bounds the pool.
  const pool = new Uint8Array(text.length);
  let used = 0;
  let starts = new Int32Array(1024).fill(-1);
  let lengths = new Int32Array(1024);
  let size = 0;
  let lineNumber = 0;
  for (let lineStart = 0; lineStart < text.length; ) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    lineNumber++;
    const next = lineEnd + 1;
    if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === 13 /* \r */) lineEnd--;
    const space = text.indexOf(' ', lineStart);
    if (space < 0 || space >= lineEnd) {
      if (text.slice(lineStart, lineEnd).trim() !== '') {
        corrupt(lineNumber, text.slice(lineStart, lineEnd), 'expected "<base64 token> <rank>"');
      }
      lineStart = next;
      continue;
    }
    let rank = 0;
    for (let i = space + 1; i < lineEnd; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9)
        corrupt(lineNumber, text.slice(lineStart, lineEnd), 'the rank must be an integer');
      if (rank > MAX_RANK)
        corrupt(lineNumber, text.slice(lineStart, lineEnd), 'the rank is implausibly large');
      rank = rank * 10 + digit;
    }
    const length = space + 1 < lineEnd ? base64DecodeInto(text, lineStart, space, pool, used) : -1;
    if (length <= 0) corrupt(lineNumber, text.slice(lineStart, lineEnd), 'expected "<base64 token> <rank>"');
    if (rank >= starts.length) {
      let capacity = starts.length;
      while (capacity <= rank) capacity *= 2;
      const grownStarts = new Int32Array(capacity).fill(-1);
      grownStarts.set(starts);
      const grownLengths = new Int32Array(capacity);
      grownLengths.set(lengths);
      starts = grownStarts;
      lengths = grownLengths;
    }
    if (starts[rank] >= 0) corrupt(lineNumber, text.slice(lineStart, lineEnd), `rank ${rank} appears twice`);
    starts[rank] = used;
    lengths[rank] = length;
    used += length;
    if (rank >= size) size = rank + 1;
    lineStart = next;
  }
  if (size === 0) throw new TokenizerFormatError('The .tiktoken file has no tokens.');
  return new TokenBytes(pool.slice(0, used), starts.slice(0, size), lengths.slice(0, size));
}

/** Writes tokens (by rank) in the `.tiktoken` format, one `base64 rank` line each. */
export function formatTiktoken(tokens: TokenBytes): string {
  const lines: string[] = [];
  for (let rank = 0; rank < tokens.size; rank++) {
    const bytes = tokens.get(rank);
    if (bytes !== undefined) lines.push(`${base64Encode(bytes)} ${rank}`);
  }
  return `${lines.join('\n')}\n`;
}
