// Encoding of ordinary text (no special tokens): split into pieces with the pattern, then turn
// each piece into ids through the cache or byte-pair merging.
import { mergeBytes } from './bpe.js';
import type { SplitPattern } from './patterns.js';
import { PieceCache, type PieceIds } from './piece-cache.js';
import { detachString, splitText } from './split.js';
import { utf8EncodeInto } from './utf8.js';
import type { Vocabulary } from './vocabulary.js';

/** Pieces longer than this (in UTF-16 units) are not cached: they are rare and would pin memory. */
const MAX_CACHED_PIECE = 256;

/** Splits text with a pattern and encodes the pieces, with a bounded cache of piece → ids. */
export class PieceEncoder {
  private readonly cache: PieceCache;
  private bytes = new Uint8Array(1024);
  private readonly scratch: number[] = [];
  /** Byte length of the longest token that only whole-piece lookup can produce (0: no lookup). */
  private longestUnreachable = 0;

  constructor(
    readonly vocab: Vocabulary,
    readonly pattern: SplitPattern,
    cacheCapacity?: number,
  ) {
    this.cache = new PieceCache(cacheCapacity);
    if (vocab.wholePieceLookup) {
      for (const key of vocab.unreachable.keys())
        this.longestUnreachable = Math.max(this.longestUnreachable, key.length);
    }
  }

  /** Appends the ids of well-formed `text` (special tokens are not recognized) to `out`. */
  encode(text: string, out: number[]): void {
    if (text === '') return;
    const cache = this.cache;
    for (const piece of splitText(this.pattern.regex, text)) {
      let ids = cache.get(piece);
      if (ids === undefined) {
        ids = this.encodePiece(piece);
        if (piece.length <= MAX_CACHED_PIECE) cache.set(detachString(piece), ids);
      }
      if (typeof ids === 'number') out.push(ids);
      else for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  /** Ids of one piece, without the cache. */
  encodePiece(piece: string): PieceIds {
    if (this.bytes.length < piece.length * 3) this.bytes = new Uint8Array(piece.length * 3);
    const length = utf8EncodeInto(piece, this.bytes);
    return this.encodePieceBytes(this.bytes, length);
  }

  /** Ids of one piece given as bytes (`bytes[0, length)`). */
  encodePieceBytes(bytes: Uint8Array, length: number): PieceIds {
    if (length > 1 && length <= this.longestUnreachable) {
      const key = String.fromCharCode.apply(null, bytes.subarray(0, length) as unknown as number[]);
      const id = this.vocab.unreachable.get(key);
      if (id !== undefined) return id;
    }
    const out = this.scratch;
    out.length = 0;
    mergeBytes(this.vocab, bytes, 0, length, out);
    return out.length === 1 ? out[0] : Uint32Array.from(out);
  }
}
