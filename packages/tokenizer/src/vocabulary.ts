// The regular (non-special) tokens of a byte-level BPE tokenizer and its merge rules.
//
// Two file formats describe the same thing differently. A tokenizer.json (and our trainer) lists
// merges explicitly: "merge token A with token B, in this order". A .tiktoken file lists only the
// tokens, by rank, and tiktoken merges any adjacent pair whose concatenation is a token, lowest
// rank first. The two agree when each token's merge is the pair that BPE reaches on the token's own
// bytes using only lower-ranked tokens; `fromRanks` derives exactly those merges, so one merge loop
// (bpe.ts) serves both formats and gives tiktoken's ids.
import { type MergeRules, mergeBytes } from './bpe.js';
import { TokenizerFormatError } from './errors.js';
import { PairTable } from './pair-table.js';
import { bytesToLatin1, concatBytes } from './utf8.js';

/** One merge rule: the ids of the left and right token (the result is their concatenation). */
export type Merge = readonly [left: number, right: number];

/** Tokens and merge rules of a byte-level BPE vocabulary. Immutable once built. */
export class Vocabulary implements MergeRules {
  readonly byteIds: Int32Array;
  readonly ranks: PairTable;
  readonly mergedIds: Int32Array;
  readonly ranksIncrease: boolean;
  /** Merge rules in rank order, as `[leftId, rightId]`. */
  readonly merges: readonly Merge[];
  /**
   * When true, a piece whose bytes are exactly one token becomes that token without merging.
   * tiktoken does this (and Hugging Face with `ignore_merges`); it only changes the result for
   * tokens that merging cannot reach.
   */
  readonly wholePieceLookup: boolean;
  private readonly tokens: readonly (Uint8Array | undefined)[];
  private byBytes?: Map<string, number>;
  private maxBytes = -1;

  private constructor(
    tokens: readonly (Uint8Array | undefined)[],
    byteIds: Int32Array,
    merges: readonly Merge[],
    mergedIds: Int32Array,
    ranks: PairTable,
    wholePieceLookup: boolean,
  ) {
    this.tokens = tokens;
    this.byteIds = byteIds;
    this.merges = merges;
    this.mergedIds = mergedIds;
    this.ranks = ranks;
    this.wholePieceLookup = wholePieceLookup;
    this.ranksIncrease = checkRanksIncrease(tokens.length, merges, mergedIds);
  }

  /**
   * Builds the vocabulary of a tiktoken rank file: `tokens[id]` are the bytes of the token whose
   * rank is `id`. Merge rules are derived in rank order (see the file comment). Tokens that no
   * merge sequence can produce are kept (they decode, and whole-piece lookup still finds them).
   */
  static fromRanks(tokens: readonly (Uint8Array | undefined)[]): Vocabulary {
    const byteIds = singleByteIds(tokens);
    const merges: Merge[] = [];
    // At most one merge per token, so this never needs to grow.
    const mergedIds = new Int32Array(tokens.length);
    // Derived merges only combine lower-ranked tokens, so ranks increase by construction.
    const rules: MergeRules = {
      byteIds,
      ranks: new PairTable(tokens.length),
      mergedIds,
      ranksIncrease: true,
    };
    const parts: number[] = [];
    for (let id = 0; id < tokens.length; id++) {
      const bytes = tokens[id];
      if (bytes === undefined || bytes.length < 2) continue;
      // Every merge found so far has a lower rank than this token, which is what the rule needs.
      parts.length = 0;
      mergeBytes(rules, bytes, bytes.length, parts);
      if (parts.length !== 2) continue; // unreachable by merging (or a duplicate of another token)
      rules.ranks.set(parts[0], parts[1], merges.length);
      mergedIds[merges.length] = id;
      merges.push([parts[0], parts[1]]);
    }
    return new Vocabulary(tokens, byteIds, merges, mergedIds.slice(0, merges.length), rules.ranks, true);
  }

  /**
   * Builds a vocabulary from explicit merge rules (tokenizer.json, training). `tokens[id]` are the
   * token bytes; each merge must produce a token that exists.
   */
  static fromMerges(
    tokens: readonly (Uint8Array | undefined)[],
    merges: readonly Merge[],
    options: { wholePieceLookup?: boolean } = {},
  ): Vocabulary {
    const byteIds = singleByteIds(tokens);
    const byBytes = indexByBytes(tokens);
    const mergedIds = new Int32Array(merges.length);
    const ranks = new PairTable(merges.length);
    merges.forEach(([left, right], rank) => {
      const a = tokens[left];
      const b = tokens[right];
      if (a === undefined || b === undefined) {
        throw new TokenizerFormatError(`Merge #${rank} refers to a missing token id (${left}, ${right}).`);
      }
      const id = byBytes.get(bytesToLatin1(concatBytes([a, b])));
      if (id === undefined) {
        throw new TokenizerFormatError(
          `Merge #${rank} (${left}, ${right}) produces a token that is not in the vocabulary.`,
        );
      }
      if (ranks.get(left, right) >= 0) {
        throw new TokenizerFormatError(`Merge #${rank} (${left}, ${right}) is listed twice.`);
      }
      ranks.set(left, right, rank);
      mergedIds[rank] = id;
    });
    const vocab = new Vocabulary(
      tokens,
      byteIds,
      merges,
      mergedIds,
      ranks,
      options.wholePieceLookup ?? false,
    );
    vocab.byBytes = byBytes;
    return vocab;
  }

  /** Length in bytes of the longest token. */
  get maxTokenBytes(): number {
    if (this.maxBytes < 0) this.maxBytes = this.tokens.reduce((max, t) => Math.max(max, t?.length ?? 0), 0);
    return this.maxBytes;
  }

  /** One more than the largest regular token id. */
  get size(): number {
    return this.tokens.length;
  }

  /** Bytes of a regular token, or undefined if `id` is not one. */
  bytesOf(id: number): Uint8Array | undefined {
    return this.tokens[id];
  }

  /** The id of the regular token with exactly these bytes, if any. */
  idOfBytes(bytes: Uint8Array): number | undefined {
    return this.idOfLatin1(bytesToLatin1(bytes));
  }

  /** Like {@link idOfBytes}, with the bytes given as a Latin-1 string (one char per byte). */
  idOfLatin1(key: string): number | undefined {
    this.byBytes ??= indexByBytes(this.tokens);
    return this.byBytes.get(key);
  }
}

/** Whether each merge's inputs are single bytes or outputs of earlier merges. */
function checkRanksIncrease(size: number, merges: readonly Merge[], mergedIds: Int32Array): boolean {
  const madeAt = new Int32Array(size).fill(-1); // token id → rank of the merge that makes it
  for (let rank = 0; rank < merges.length; rank++) {
    if (madeAt[mergedIds[rank]] < 0) madeAt[mergedIds[rank]] = rank;
  }
  return merges.every(([left, right], rank) => madeAt[left] < rank && madeAt[right] < rank);
}

function singleByteIds(tokens: readonly (Uint8Array | undefined)[]): Int32Array {
  const byteIds = new Int32Array(256).fill(-1);
  tokens.forEach((bytes, id) => {
    if (bytes?.length === 1 && byteIds[bytes[0]] < 0) byteIds[bytes[0]] = id;
  });
  const missing = byteIds.indexOf(-1);
  if (missing >= 0) {
    throw new TokenizerFormatError(
      `Not a byte-level vocabulary: no token for the single byte 0x${missing.toString(16).padStart(2, '0')}. ` +
        'Byte-level BPE needs all 256 bytes as tokens so that any input can be encoded.',
    );
  }
  return byteIds;
}

function indexByBytes(tokens: readonly (Uint8Array | undefined)[]): Map<string, number> {
  const map = new Map<string, number>();
  tokens.forEach((bytes, id) => {
    if (bytes === undefined) return;
    const key = bytesToLatin1(bytes);
    if (!map.has(key)) map.set(key, id);
  });
  return map;
}
