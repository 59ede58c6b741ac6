import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  broadcastShapes,
  collapseDims,
  contiguousStrides,
  inferReshape,
  isContiguous,
  viewStrides,
} from '../src/shape.js';

/** Every storage offset a strided view addresses, in row-major order. */
function offsets(shape: number[], strides: number[], offset = 0): number[] {
  const out: number[] = [];
  const walk = (d: number, off: number) => {
    if (d === shape.length) {
      out.push(off);
      return;
    }
    for (let i = 0; i < shape[d]; i++) walk(d + 1, off + i * strides[d]);
  };
  walk(0, offset);
  return out;
}

const smallShape = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 });

describe('broadcastShapes', () => {
  it('follows NumPy rules', () => {
    expect(broadcastShapes('t', [3, 1], [1, 4])).toEqual([3, 4]);
    expect(broadcastShapes('t', [2, 3, 4], [4])).toEqual([2, 3, 4]);
    expect(broadcastShapes('t', [], [5])).toEqual([5]);
    expect(broadcastShapes('t', [0, 1], [1, 3])).toEqual([0, 3]);
  });
  it('names the op and both shapes when incompatible', () => {
    expect(() => broadcastShapes('add', [2, 3], [4])).toThrow(
      /add: shapes \[2,3\] and \[4\] cannot be broadcast/,
    );
  });
  it('is commutative and idempotent (property)', () => {
    fc.assert(
      fc.property(smallShape, smallShape, (a, b) => {
        let ab: number[] | null = null;
        let ba: number[] | null = null;
        try {
          ab = broadcastShapes('t', a, b);
        } catch {}
        try {
          ba = broadcastShapes('t', b, a);
        } catch {}
        expect(ab).toEqual(ba);
        if (ab) expect(broadcastShapes('t', ab, a)).toEqual(ab);
      }),
    );
  });
});

describe('viewStrides', () => {
  it('views a contiguous tensor under any reshape with the same element order', () => {
    fc.assert(
      fc.property(smallShape, (shape) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const strides = contiguousStrides(shape);
        for (const to of [[size], [1, size], [size, 1]]) {
          const s = viewStrides(shape, strides, to);
          expect(s).not.toBeNull();
          expect(offsets(to, s!)).toEqual(offsets(shape, strides));
        }
      }),
    );
  });
  it('returns null for a transposed matrix flattened (a copy is required)', () => {
    expect(viewStrides([3, 2], [1, 3], [6])).toBeNull();
  });
  it('splits and merges dims of permuted tensors only where they stay contiguous (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 4 }),
        fc.integer({ min: 0, max: 10 }),
        (shape, seed) => {
          // a permuted view of a contiguous tensor
          const perm = shape.map((_, i) => i).sort((a, b) => ((a * 7 + seed) % 5) - ((b * 7 + seed) % 5));
          const base = contiguousStrides(shape);
          const pShape = perm.map((p) => shape[p]);
          const pStrides = perm.map((p) => base[p]);
          const size = shape.reduce((a, b) => a * b, 1);
          const s = viewStrides(pShape, pStrides, [size]);
          const expected = offsets(pShape, pStrides);
          if (s) expect(offsets([size], s)).toEqual(expected);
          else expect(isContiguous(pShape, pStrides)).toBe(false);
        },
      ),
    );
  });
});

describe('collapseDims', () => {
  it('merges dims every operand walks in lock-step and keeps the addressed elements', () => {
    fc.assert(
      fc.property(smallShape, (shape) => {
        const a = contiguousStrides(shape);
        const b = shape.map((d, i) => (d === 1 ? 0 : a[i])); // broadcast-like copy of a
        const { shape: cs, strides } = collapseDims(shape, [a, b]);
        expect(offsets(cs, strides[0])).toEqual(offsets(shape, a));
        expect(cs.length).toBeLessThanOrEqual(1);
      }),
    );
    // a transposed operand cannot merge with a contiguous one
    expect(
      collapseDims(
        [2, 3],
        [
          [3, 1],
          [1, 2],
        ],
      ).shape,
    ).toEqual([2, 3]);
  });
});

describe('inferReshape', () => {
  it('resolves -1 and rejects bad targets with the shapes in the message', () => {
    expect(inferReshape([2, 3, 4], [-1, 4], 'reshape')).toEqual([6, 4]);
    expect(() => inferReshape([2, 3], [4, -1], 'reshape')).toThrow(/cannot reshape \[2,3\]/);
    expect(() => inferReshape([2, 3], [-1, -1], 'reshape')).toThrow(/at most one -1/);
    expect(() => inferReshape([2, 3], [5], 'reshape')).toThrow(/\[2,3\] \(6 elements\) to \[5\]/);
  });
});
