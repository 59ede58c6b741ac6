// The three merge loops (short pieces, long pieces by rank buckets, long pieces with a heap)
// must agree on every input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MergeRules, mergeLong, mergeLongByRank, mergeShort } from '../src/bpe.js';
import type { Tokenizer } from '../src/index.js';
import { PairTable } from '../src/pair-table.js';
import { PieceCache } from '../src/piece-cache.js';
import { loadOurs } from './helpers/openai.js';

function rulesOf(tokenizer: Tokenizer): MergeRules {
  return (tokenizer as unknown as { vocab: MergeRules }).vocab;
}

function allThree(rules: MergeRules, bytes: Uint8Array): number[][] {
  const results = [mergeShort, mergeLong, mergeLongByRank].map((merge) => {
    const out: number[] = [];
    merge(rules, bytes, 0, bytes.length, out);
    return out;
  });
  return results;
}

describe('merge loops agree', () => {
  const cl100k = rulesOf(loadOurs('cl100k_base'));

  it('on random UTF-8 text and random bytes (cl100k)', () => {
    const input = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => new TextEncoder().encode(s)),
      fc.uint8Array({ maxLength: 80 }),
      fc
        .tuple(fc.constantFrom('a', 'ab', ' ', '=', '\n', '😀'), fc.integer({ min: 1, max: 60 }))
        .map(([u, n]) => new TextEncoder().encode(u.repeat(n))),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const [short, heap, buckets] = allThree(cl100k, bytes);
        expect(heap).toEqual(short);
        expect(buckets).toEqual(short);
      }),
      { numRuns: 2000 },
    );
  });

  it('when the same pair overlaps itself (leftmost merge first)', () => {
    // A toy vocabulary: bytes, then "aa" (rank 0), then "aaa" = "aa" + "a" (rank 1).
    const ranks = new PairTable();
    ranks.set(97, 97, 0);
    ranks.set(256, 97, 1);
    const byteIds = Int32Array.from({ length: 256 }, (_, b) => b);
    const rules: MergeRules = { byteIds, ranks, mergedIds: Int32Array.of(256, 257), ranksIncrease: true };
    for (let n = 1; n < 12; n++) {
      const [short, heap, buckets] = allThree(rules, new Uint8Array(n).fill(97));
      expect(heap).toEqual(short);
      expect(buckets).toEqual(short);
    }
    const out: number[] = [];
    mergeShort(rules, new Uint8Array(5).fill(97), 0, 5, out);
    expect(out).toEqual([256, 257]); // "aaaaa" → "aa" "aa" "a" → "aa" "aaa"
  });
});

describe('helpers', () => {
  it('PairTable grows and keeps every pair', () => {
    const table = new PairTable(2);
    for (let i = 0; i < 5000; i++) table.set(i, i * 7 + 1, i);
    for (let i = 0; i < 5000; i++) expect(table.get(i, i * 7 + 1)).toBe(i);
    expect(table.get(1, 1)).toBe(-1);
    expect(table.size).toBe(5000);
  });

  it('PieceCache stays bounded and keeps recently used entries', () => {
    const cache = new PieceCache(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    cache.set('d', 4); // "a".."c" become the old generation
    expect(cache.get('a')).toBe(1); // promoted back into the young generation
    cache.set('e', 5);
    cache.set('f', 6); // young was full: old generation ("a","d","e") kept, "b","c" dropped
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
  });
});
