/**
 * The semantics of the mixture-of-experts ops on the cpu reference, against the same results
 * built from independent ops (a plain matmul per group's slice, indexSelect and sums), plus the
 * edge cases (empty groups, rows past the last group, dropped slots) and the input errors.
 */
import { describe, expect, it } from 'vitest';
import {
  combineRows,
  concat,
  dispatchRows,
  groupedMatmul,
  groupedOuter,
  init,
  matmul,
  randn,
  slotDots,
  type Tensor,
  tensor,
  zeros,
} from '../src/index.js';

await init({ backend: 'cpu', quiet: true });

async function close(a: Tensor, b: Tensor, tol = 1e-5): Promise<void> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [await a.data(), await b.data()];
  for (let i = 0; i < y.length; i++)
    expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(tol * (1 + Math.abs(y[i])));
}

const ints = (data: number[], shape = [data.length]) => tensor(data, { dtype: 'int32', shape });

describe('groupedMatmul / groupedOuter (cpu semantics)', () => {
  // groups of 3, 0 (empty), 4 and 1 rows, then 2 rows in no group
  const sizes = [3, 0, 4, 1];
  const ends = ints([3, 3, 7, 8]);
  const [R, K, M, E] = [10, 5, 6, 4];

  it('is one matmul per group slice, zero past the last group, weights read through a transpose', async () => {
    const x = randn([R, K]);
    const w = randn([E, M, K]); // nn.Linear layout; the op reads its transpose in place
    const y = groupedMatmul(x, w.permute([0, 2, 1]), ends);
    let start = 0;
    const parts: Tensor[] = [];
    sizes.forEach((n, e) => {
      if (n > 0) parts.push(matmul(x.slice(0, start, start + n), w.slice(0, e, e + 1).reshape([M, K]).T));
      start += n;
    });
    parts.push(zeros([R - start, M]));
    await close(y, concat(parts, 0));
  });

  it('groupedOuter is each group slice xᵀ·y, zeros for an empty group', async () => {
    const x = randn([R, K]);
    const g = randn([R, M]);
    const out = groupedOuter(x, g, ends);
    expect(out.shape).toEqual([E, K, M]);
    let start = 0;
    for (const [e, n] of sizes.entries()) {
      const want =
        n === 0 ? zeros([K, M]) : matmul(x.slice(0, start, start + n).T, g.slice(0, start, start + n));
      await close(out.slice(0, e, e + 1).reshape([K, M]), want);
      start += n;
    }
  });

  it('names what is wrong with bad operands', () => {
    const x = randn([R, K]);
    expect(() => groupedMatmul(x, randn([E, K + 1, M]), ends)).toThrow(/x \[R, K\], w \[E, K, M\]/);
    expect(() => groupedMatmul(x, randn([E, K, M]), ends.cast('float32'))).toThrow(/ends must be int32/);
    expect(() => groupedOuter(x, randn([R + 1, M]), ends)).toThrow(/same rows/);
    expect(() => groupedMatmul(x, randn([E, K, M]), ints([3, 3, 7, R + 1]))).toThrow(
      /index 11 is out of range \[0, 11\)/,
    );
  });
});

describe('dispatchRows / combineRows / slotDots (cpu semantics)', () => {
  // 3 tokens, 2 choices; token 1's second choice is dropped (−1); rows 0..5, row 4 unused
  const slots = ints([5, 0, 2, -1, 3, 1], [3, 2]);
  const gates = tensor([0.5, 0.25, 1.5, 2, -1, 0.75], { shape: [3, 2] });
  const D = 4;

  it('dispatchRows writes each token at its slots, zero elsewhere, gates scale', async () => {
    const x = randn([3, D]);
    const out = dispatchRows(x, slots, 6, gates);
    const pick = (n: number, g: number) => x.slice(0, n, n + 1).mul(g);
    const want = concat(
      [pick(0, 0.25), pick(2, 0.75), pick(1, 1.5), pick(2, -1), zeros([1, D]), pick(0, 0.5)],
      0,
    );
    await close(out, want);
    await close(
      dispatchRows(x, slots, 6),
      concat([pick(0, 1), pick(2, 1), pick(1, 1), pick(2, 1), zeros([1, D]), pick(0, 1)], 0),
    );
  });

  it('combineRows sums gate · row over a token’s slots; slotDots are the dot products', async () => {
    const y = randn([6, D]);
    const row = (r: number) => y.slice(0, r, r + 1);
    const want = concat(
      [row(5).mul(0.5).add(row(0).mul(0.25)), row(2).mul(1.5), row(3).mul(-1).add(row(1).mul(0.75))],
      0,
    );
    await close(combineRows(y, slots, gates), want);
    const x = randn([3, D]);
    const dot = (n: number, r: number) =>
      x
        .slice(0, n, n + 1)
        .mul(row(r))
        .sum();
    const dots = await slotDots(x, y, slots).data();
    const expected = [dot(0, 5), dot(0, 0), dot(1, 2), null, dot(2, 3), dot(2, 1)];
    for (const [i, d] of expected.entries()) {
      const v = d ? await d.item() : 0;
      expect(Math.abs(dots[i] - v)).toBeLessThan(1e-5);
    }
  });

  it('names what is wrong with bad operands', () => {
    const x = randn([3, D]);
    expect(() => dispatchRows(x, ints([0, 1], [2, 1]), 4)).toThrow(/N = 3 tokens/);
    expect(() => combineRows(randn([6, D]), slots, randn([3, 1]))).toThrow(/gates must be shaped like slots/);
    expect(() => dispatchRows(x, slots, -1)).toThrow(/non-negative integer/);
    expect(() => slotDots(x, randn([6, D + 1]), slots)).toThrow(/same row width/);
    expect(() => dispatchRows(x, slots, 5)).toThrow(/index 5 is out of range \[0, 5\)/);
    expect(() => combineRows(randn([6, D]), ints([0, -2, 1, 2, 3, 4], [3, 2]))).toThrow(
      /index -2 is out of range/,
    );
  });
});
