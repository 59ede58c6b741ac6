// Decoding token by token during generation. A token can end in the middle of a UTF-8 character
// (emoji and CJK characters are often split over two or three tokens), so decoding each token on
// its own would print U+FFFD garbage. The stream decoder keeps the incomplete bytes until the
// character is complete.
import { createUtf8StreamDecoder } from './utf8.js';

/** Turns token ids, given a few at a time, into text that only ever contains whole characters. */
export class StreamDecoder {
  private readonly utf8 = createUtf8StreamDecoder();

  constructor(private readonly bytesOf: (ids: ArrayLike<number>) => Uint8Array) {}

  /**
   * Adds one id or several and returns the text they complete: possibly `''` when the bytes so
   * far end inside a character. Bytes that can never form a valid character come out as U+FFFD.
   */
  push(ids: number | ArrayLike<number>): string {
    const bytes = this.bytesOf(typeof ids === 'number' ? [ids] : ids);
    return this.utf8.decode(bytes, { stream: true });
  }

  /**
   * Ends the stream: returns the text of any bytes still held back (an incomplete character at
   * the very end becomes U+FFFD) and resets the decoder for reuse.
   */
  flush(): string {
    return this.utf8.decode();
  }
}
