// The regular (non-special) tokens of a byte-level BPE tokenizer and its merge rules.
//
// Two file formats describe the same thing differently. A tokenizer.json (and our trainer) lists
// merges explicitly: "merge token A with token B, in this order". A .tiktoken file lists only the
// tokens, by rank, and tiktoken merges any adjacent pair whose concatenation is a token, lowest
// rank first. The two agree when each token's merge is the pair that BPE reaches on the token's own
// bytes using only lower-ranked tokens; `fromRanks` derives exactly those merges, so one merge loop
// (bpe.ts) serves both formats and gives tiktoken's ids. (Why they agree: a pair that tiktoken
// merges into token t was itself built inside t's bytes by lower-ranked merges, in the same order
// as BPE on t alone, so it is t's derived merge; and derived merges are a subset of tiktoken's
// candidates with the same ranks.)
import { type MergeRules, mergeBytes } from './bpe.js';
import { TokenizerFormatError } from './errors.js';
import { PairTable } from './pair-table.js';
import type { TokenBytes } from './token-bytes.js';

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
   * tiktoken does this (and Hugging Face with `ignore_merges`). It only changes the result for
   * the tokens in {@link unreachable}, so only those are looked up.
   */
  readonly wholePieceLookup: boolean;
  /** Tokens (as Latin-1 keys) that merging their own bytes does not produce. */
  readonly unreachable: ReadonlyMap<string, number>;
  /** The bytes of each token. */
  readonly tokens: TokenBytes;
  private byBytes?: Map<string, number>;

  private constructor(
    tokens: TokenBytes,
    byteIds: Int32Array,
    merges: readonly Merge[],
    mergedIds: Int32Array,
    ranks: PairTable,
    wholePieceLookup: boolean,
    unreachable: ReadonlyMap<string, number>,
  ) {
    this.tokens = tokens;
    this.byteIds = byteIds;
    this.merges = merges;
    this.mergedIds = mergedIds;
    this.ranks = ranks;
    this.wholePieceLookup = wholePieceLookup;
    this.unreachable = unreachable;
    this.ranksIncrease = checkRanksIncrease(tokens.size, merges, mergedIds);
  }

  /**
   * Builds the vocabulary of a tiktoken rank file (token bytes by rank = id). Merge rules are
   * derived in rank order (see the file comment). Tokens that no merge sequence can produce are
   * kept: they decode, and whole-piece lookup still finds them, as in tiktoken.
   */
  static fromRanks(tokens: TokenBytes): Vocabulary {
    const byteIds = singleByteIds(tokens);
    const merges: Merge[] = [];
    // At most one merge per token, so this never needs to grow.
    const mergedIds = new Int32Array(tokens.size);
    // Derived merges only combine lower-ranked tokens, so ranks increase by construction.
    const rules: MergeRules = { byteIds, ranks: new PairTable(tokens.size), mergedIds, ranksIncrease: true };
    const unreachable = new Map<string, number>();
    const parts: number[] = [];
    const { pool, starts, lengths } = tokens;
    for (let id = 0; id < tokens.size; id++) {
      if (lengths[id] < 2) continue;
      parts.length = 0;
      if (lengths[id] === 2) {
        parts.push(byteIds[pool[starts[id]]], byteIds[pool[starts[id] + 1]]); // nothing to merge first
      } else {
        // Every merge found so far has a lower rank than this token, which is what the rule needs.
        mergeBytes(rules, pool, starts[id], lengths[id], parts);
      }
      if (parts.length === 2) {
        rules.ranks.set(parts[0], parts[1], merges.length);
        mergedIds[merges.length] = id;
        merges.push([parts[0], parts[1]]);
      } else {
        unreachable.set(tokens.latin1(id), id);
      }
    }
    return new Vocabulary(
      tokens,
      byteIds,
      merges,
      mergedIds.slice(0, merges.length),
      rules.ranks,
      true,
      unreachable,
    );
  }

  /**
   * Builds a vocabulary from explicit merge rules (tokenizer.json, training); each merge must
   * produce a token that exists.
   */
  static fromMerges(
    tokens: TokenBytes,
    merges: readonly Merge[],
    options: { wholePieceLookup?: boolean } = {},
  ): Vocabulary {
    const byteIds = singleByteIds(tokens);
    const byBytes = indexByBytes(tokens);
    const mergedIds = new Int32Array(merges.length);
    const ranks = new PairTable(merges.length);
    merges.forEach(([left, right], rank) => {
      if (!tokens.has(left) || !tokens.has(right)) {
        throw new TokenizerFormatError(`Merge #${rank} refers to a missing token id (${left}, ${right}).`);
      }
      const id = byBytes.get(tokens.latin1(left) + tokens.latin1(right));
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
    const rules: MergeRules = {
      byteIds,
      ranks,
      mergedIds,
      ranksIncrease: checkRanksIncrease(tokens.size, merges, mergedIds),
    };
    const wholePieceLookup = options.wholePieceLookup ?? false;
    const unreachable = new Map<string, number>();
    if (wholePieceLookup) {
      const parts: number[] = [];
      for (let id = 0; id < tokens.size; id++) {
        if (tokens.lengths[id] < 2) continue;
        parts.length = 0;
        mergeBytes(rules, tokens.pool, tokens.starts[id], tokens.lengths[id], parts);
        if (parts.length !== 1 || parts[0] !== id) unreachable.set(tokens.latin1(id), id);
      }
    }
    const vocab = new Vocabulary(tokens, byteIds, merges, mergedIds, ranks, wholePieceLookup, unreachable);
    vocab.byBytes = byBytes;
    return vocab;
  }

  /** One more than the largest regular token id. */
  get size(): number {
    return this.tokens.size;
  }

  /** Bytes of a regular token (a view: do not modify), or undefined if `id` is not one. */
  bytesOf(id: number): Uint8Array | undefined {
    return this.tokens.get(id);
  }

  /** The id of the regular token with exactly these bytes, if any. */
  idOfBytes(bytes: Uint8Array): number | undefined {
    this.byBytes ??= indexByBytes(this.tokens);
    return this.byBytes.get(String.fromCharCode.apply(null, bytes as unknown as number[]));
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

function singleByteIds(tokens: TokenBytes): Int32Array {
  const byteIds = new Int32Array(256).fill(-1);
  for (let id = 0; id < tokens.size; id++) {
    if (tokens.lengths[id] === 1) {
      const byte = tokens.pool[tokens.starts[id]];
      if (byteIds[byte] < 0) byteIds[byte] = id;
    }
  }
  const missing = byteIds.indexOf(-1);
  if (missing >= 0) {
    throw new TokenizerFormatError(
      `Not a byte-level vocabulary: no token for the single byte 0x${missing.toString(16).padStart(2, '0')}. ` +
        'Byte-level BPE needs all 256 bytes as tokens so that any input can be encoded.',
    );
  }
  return byteIds;
}

function indexByBytes(tokens: TokenBytes): Map<string, number> {
  const map = new Map<string, number>();
  for (let id = 0; id < tokens.size; id++) {
    if (!tokens.has(id)) continue;
    const key = tokens.latin1(id);
    if (!map.has(key)) map.set(key, id);
  }
  return map;
}
