// UTF-8 helpers. Written by hand (instead of TextEncoder) for the hot path: encoding many short
// pieces into a reused buffer avoids one allocation per piece.

/** Bytes of U+FFFD, which is what a lone surrogate becomes (the same rule as `TextEncoder`). */
const REPLACEMENT = [0xef, 0xbf, 0xbd] as const;

/**
 * Writes the UTF-8 bytes of `text` into `out` from index 0 and returns the byte count.
 * `out` must hold at least `3 * text.length` bytes (the most a UTF-16 unit can take). Lone
 * surrogates become U+FFFD.
 */
export function utf8EncodeInto(text: string, out: Uint8Array): number {
  let n = 0;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      const next = i + 1 < len ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 0x3f);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        out[n++] = REPLACEMENT[0];
        out[n++] = REPLACEMENT[1];
        out[n++] = REPLACEMENT[2];
      }
    }
  }
  return n;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `text` (lone surrogates become U+FFFD). */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

// `ignoreBOM: true` keeps a leading U+FEFF in the text: the default decoder would silently drop
// it, which breaks `decode(encode(s)) === s` for strings that start with a BOM.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes UTF-8; each invalid sequence becomes U+FFFD (never throws). */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** A streaming UTF-8 decoder that holds back incomplete sequences until their last byte arrives. */
export function createUtf8StreamDecoder(): TextDecoder {
  return new TextDecoder('utf-8', { ignoreBOM: true });
}

/**
 * Length of the valid UTF-8 sequence that starts at `bytes[i]`, or 0 if the byte there does not
 * start a complete, well-formed sequence (stray continuation byte, overlong form, surrogate,
 * value above U+10FFFF, or truncated at the end of the array).
 */
export function validSequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  const end = bytes.length;
  const cont = (k: number) => k < end && (bytes[k] & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    const b1 = bytes[i + 1];
    if (b0 === 0xe0 && b1 < 0xa0) return 0; // overlong
    if (b0 === 0xed && b1 > 0x9f) return 0; // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    const b1 = bytes[i + 1];
    if (b0 === 0xf0 && b1 < 0x90) return 0; // overlong
    if (b0 === 0xf4 && b1 > 0x8f) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

/** True when `bytes` is well-formed UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; ) {
    const n = validSequenceLength(bytes, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/** Concatenates byte arrays into one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
