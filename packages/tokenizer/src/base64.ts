// Base64 without Buffer or atob, so the core works the same in browsers and Node and never goes
// through a binary string.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/**
 * Decodes the standard base64 in `text[from, to)` (with or without `=` padding) into `out` at
 * `offset`; returns the number of bytes written, or -1 if that text is not base64.
 */
export function base64DecodeInto(
  text: string,
  from: number,
  to: number,
  out: Uint8Array,
  offset: number,
): number {
  let end = to;
  while (end > from && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (to - end > 2 || (end - from) % 4 === 1) return -1;
  let acc = 0;
  let bits = 0;
  let n = offset;
  for (let i = from; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? VALUES[c] : -1;
    if (v < 0) return -1;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return n - offset;
}

/** Decodes standard base64 (with or without `=` padding); returns undefined if `text` is not base64. */
export function base64Decode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.ceil((text.length * 3) / 4));
  const length = base64DecodeInto(text, 0, text.length, out, 0);
  return length < 0 ? undefined : out.slice(0, length);
}

/** Encodes bytes as standard padded base64. */
export function base64Encode(bytes: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + ALPHABET[(v >> 6) & 63] + ALPHABET[v & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const v = bytes[i] << 16;
    s += `${ALPHABET[v >> 18]}${ALPHABET[(v >> 12) & 63]}==`;
  } else if (rest === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += `${ALPHABET[v >> 18]}${ALPHABET[(v >> 12) & 63]}${ALPHABET[(v >> 6) & 63]}=`;
  }
  return s;
}
