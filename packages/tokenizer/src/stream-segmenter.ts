// Cuts a stream of text chunks (a file read piece by piece) into segments that can be split and
// encoded on their own with the same result as the whole text. A chunk can end in the middle of a
// word, so the tail after the last safe cut waits for the next chunk.
//
// A safe cut is a place that every named split pattern treats as a piece boundary and where the
// pieces before it do not depend on what comes after:
//   - just before a space that follows a non-whitespace character ("word| next"): a space only
//     ever starts a piece, and no piece runs from a non-space character into a space;
//   - just after a single newline between two non-whitespace characters ("line\n|next").
// Custom patterns are assumed to respect the same boundaries.

/** Give up waiting for a safe cut once this much text is pending (e.g. a huge file without spaces). */
const MAX_PENDING = 1 << 22;

function isWhiteSpace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** Index of the last safe cut in `text` at or after `from`, or -1. */
export function lastSafeCut(text: string, from = 0): number {
  for (let i = text.length - 1; i > 1 && i >= from; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x20) {
      if (!isWhiteSpace(text.charCodeAt(i - 1))) return i;
    } else if (text.charCodeAt(i - 1) === 0x0a && !isWhiteSpace(c) && !isWhiteSpace(text.charCodeAt(i - 2))) {
      return i;
    }
  }
  return -1;
}

/** Buffers chunks and releases text up to the last safe cut. */
export class StreamSegmenter {
  private pending = '';

  /** Adds a chunk; returns the text that is now safe to encode (possibly empty). */
  push(chunk: string): string {
    const text = this.pending + chunk;
    // The pending text had no safe cut, and a cut depends on the two characters before it.
    let cut = lastSafeCut(text, this.pending.length - 1);
    if (cut < 0 && text.length > MAX_PENDING) cut = text.length;
    if (cut <= 0) {
      this.pending = text;
      return '';
    }
    this.pending = text.slice(cut);
    return text.slice(0, cut);
  }

  /** Returns whatever is left at the end of the stream. */
  finish(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

/**
 * Turns chunks of text or UTF-8 bytes (e.g. a Node read stream) into safe segments. Byte chunks
 * are decoded with a streaming decoder, so a character split across two chunks stays whole.
 */
export async function* segmentStream(
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
): AsyncGenerator<string> {
  const segmenter = new StreamSegmenter();
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const ready = segmenter.push(text);
    if (ready !== '') yield ready;
  }
  const rest = segmenter.push(decoder.decode()) + segmenter.finish();
  if (rest !== '') yield rest;
}
