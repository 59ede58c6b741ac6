// Best-fit-decreasing packing: a hand-traced case, fewer rows than first fit where that is known
// to lose, and properties on random lengths (every item once, no row over the context, at most
// one row half empty, never fewer rows than the lower bound).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packBestFitDecreasing } from '../src/index.js';

/** First fit in arrival order, written here as the reference to beat. */
function firstFit(lengths: readonly number[], capacity: number): number[][] {
  const rows: number[][] = [];
  const used: number[] = [];
  lengths.forEach((n, i) => {
    const r = used.findIndex((u) => u + n <= capacity);
    if (r >= 0) {
      rows[r].push(i);
      used[r] += n;
    } else {
      rows.push([i]);
      used.push(n);
    }
  });
  return rows;
}

const load = (row: readonly number[], lengths: readonly number[]) => row.reduce((s, i) => s + lengths[i], 0);

describe('packBestFitDecreasing', () => {
  it('places each item, longest first, in the fullest row it fits (hand-traced)', () => {
    // 8 → new row A (room 2); 6 → new B (4); 5 → new C (5); 4 → B is the tightest fit (room 4 → 0);
    // 2 → A (2 → 0), not C; 2 → C (5 → 3); 1 → C (3 → 2)
    const lengths = [2, 5, 4, 8, 1, 6, 2];
    expect(packBestFitDecreasing(lengths, 10)).toEqual([
      [3, 0],
      [5, 2],
      [1, 6, 4],
    ]);
  });

  it('uses fewer rows than first fit in arrival order on a known case', () => {
    // short sequences first fill rows that the long ones then cannot share
    const lengths = [3, 3, 3, 3, 7, 7, 7, 7];
    const ff = firstFit(lengths, 10);
    const bfd = packBestFitDecreasing(lengths, 10);
    expect(ff).toHaveLength(5); // [3,3,3], [3,7], [7], [7], [7]
    expect(bfd).toHaveLength(4); // the optimum: four rows of 7 + 3
    for (const row of bfd) expect(load(row, lengths)).toBe(10);
  });

  it('holds its invariants on random lengths', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 64 })
          .chain((capacity) =>
            fc.tuple(
              fc.constant(capacity),
              fc.array(fc.integer({ min: 1, max: capacity }), { minLength: 1, maxLength: 80 }),
            ),
          ),
        ([capacity, lengths]) => {
          const rows = packBestFitDecreasing(lengths, capacity);
          const placed = rows.flat().sort((a, b) => a - b);
          expect(placed).toEqual(lengths.map((_, i) => i)); // every item exactly once
          const loads = rows.map((r) => load(r, lengths));
          for (const l of loads) expect(l).toBeLessThanOrEqual(capacity);
          // any-fit: a row at most half full would have taken the next row's first (short) item
          expect(loads.filter((l) => 2 * l <= capacity).length).toBeLessThanOrEqual(1);
          const total = lengths.reduce((a, b) => a + b, 0);
          expect(rows.length).toBeGreaterThanOrEqual(Math.ceil(total / capacity));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects lengths that do not fit and bad contexts', () => {
    expect(() => packBestFitDecreasing([3, 11], 10)).toThrow(
      /item 1 has length 11; lengths must be integers in \[1, contextLength = 10\]/,
    );
    expect(() => packBestFitDecreasing([0], 10)).toThrow(/item 0 has length 0/);
    expect(() => packBestFitDecreasing([1], 0)).toThrow(/contextLength must be a positive integer/);
    expect(packBestFitDecreasing([], 4)).toEqual([]);
  });
});
