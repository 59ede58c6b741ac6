// The `.tiktoken` rank file: one token per line, `<base64 of the token bytes> <rank>`. The rank is
// the token id and also its merge priority (lower merges first).
import { base64Decode, base64Encode } from './base64.js';
import { TokenizerFormatError } from './errors.js';
import { utf8Decode } from './utf8.js';

/**
 * Parses a `.tiktoken` file into `tokens[rank] = bytes`. Blank lines are skipped. Throws a
 * {@link TokenizerFormatError} naming the line for a malformed line or a rank given twice.
 */
export function parseTiktoken(contents: string | Uint8Array): (Uint8Array | undefined)[] {
  const text = typeof contents === 'string' ? contents : utf8Decode(contents);
  const tokens: (Uint8Array | undefined)[] = [];
  let lineNumber = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNumber++;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    const space = line.indexOf(' ');
    const rankText = space < 0 ? '' : line.slice(space + 1);
    const bytes = space < 0 ? undefined : base64Decode(line.slice(0, space));
    if (bytes === undefined || bytes.length === 0 || !/^\d+$/.test(rankText)) {
      const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line;
      throw new TokenizerFormatError(
        `Corrupt .tiktoken file at line ${lineNumber}: expected "<base64 token> <rank>", got ${JSON.stringify(shown)}.`,
      );
    }
    const rank = Number(rankText);
    if (rank > 0x7fffffff) {
      throw new TokenizerFormatError(
        `Corrupt .tiktoken file at line ${lineNumber}: rank ${rankText} is too large.`,
      );
    }
    if (tokens[rank] !== undefined) {
      throw new TokenizerFormatError(
        `Corrupt .tiktoken file at line ${lineNumber}: rank ${rank} appears twice.`,
      );
    }
    tokens[rank] = bytes;
  }
  if (tokens.length === 0) throw new TokenizerFormatError('The .tiktoken file has no tokens.');
  // Array holes (ranks never listed) read as undefined; make them real so iteration sees them.
  return Array.from(tokens);
}

/** Writes tokens (by rank) in the `.tiktoken` format, one `base64 rank` line each. */
export function formatTiktoken(tokens: readonly (Uint8Array | undefined)[]): string {
  const lines: string[] = [];
  tokens.forEach((bytes, rank) => {
    if (bytes !== undefined) lines.push(`${base64Encode(bytes)} ${rank}`);
  });
  return `${lines.join('\n')}\n`;
}
