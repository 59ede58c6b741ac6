// The byte-level alphabet of GPT-2 style tokenizer.json files. Each of the 256 bytes is shown as
// one printable Unicode character so that vocab keys and merges are plain JSON strings: printable
// Latin-1 bytes stand for themselves and the other 68 bytes (control codes, space, DEL, NBSP,
// soft hyphen, ...) are moved to U+0100 and up, in byte order. So a space is written `Ġ` (U+0120).

function isPrintableLatin1(byte: number): boolean {
  return (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

/** Byte value → its character in the byte-level alphabet. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    chars.push(String.fromCharCode(isPrintableLatin1(b) ? b : 256 + shifted++));
  }
  return chars;
})();

const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** Writes bytes in the byte-level alphabet (`" hi"` → `"Ġhi"`). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Reads a byte-level string back into bytes; undefined if it has a character outside the alphabet. */
export function byteLevelToBytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = CHAR_TO_BYTE.get(text[i]);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}
