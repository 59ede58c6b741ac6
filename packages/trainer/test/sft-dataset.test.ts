// SFTDataset: the rows it yields (hand-checked on a small case), the invariants of every batch
// (documents kept apart, positions restarting, padding only at the end and never trained), epochs,
// exact resume, the three layouts and their padding statistics.
import { describe, expect, it } from 'vitest';
import {
  type HostTensor,
  IGNORE_INDEX,
  nonPaddingTokens,
  SFTDataset,
  type SFTSequence,
} from '../src/index.js';

/** A sequence of the given ids, trained on every next token but the last. */
function seq(ids: number[]): SFTSequence {
  const targets = ids.map((_, t) => (t + 1 < ids.length ? ids[t + 1] : IGNORE_INDEX));
  return { ids: Int32Array.from(ids), targets: Int32Array.from(targets) };
}

/** Deterministic sequences of varied lengths, each with distinct ids (sequence i uses 1000·i + t). */
function corpus(lengths: number[]): SFTSequence[] {
  return lengths.map((n, i) => seq(Array.from({ length: n }, (_, t) => 1000 * (i + 1) + t)));
}

const rowsOf = (t: HostTensor) => {
  const [B, T] = t.shape;
  return Array.from({ length: B }, (_, b) => Array.from(t.data.subarray(b * T, (b + 1) * T)));
};

/** Checks a batch's invariants and returns the sequences it holds (as id lists), in row order. */
function documents(batch: ReturnType<SFTDataset['next']>, contextLength: number): number[][] {
  const [ids, targets, segments, positions, padding] = [
    batch.ids,
    batch.targets,
    batch.segments,
    batch.positions,
    batch.padding,
  ].map(rowsOf);
  expect(batch.ids.shape[1]).toBeLessThanOrEqual(contextLength);
  const docs: number[][] = [];
  ids.forEach((row, b) => {
    let doc: number[] = [];
    let previous = -1;
    row.forEach((id, t) => {
      if (padding[b][t]) {
        expect(segments[b][t]).toBe(-1);
        expect(targets[b][t]).toBe(IGNORE_INDEX);
        expect(padding[b].slice(t).every((p) => p === 1)).toBe(true); // pads only at the end
        return;
      }
      const s = segments[b][t];
      if (s !== previous) {
        expect(s).toBe(previous + 1); // documents numbered 0, 1, 2 … along the row
        if (doc.length) docs.push(doc);
        doc = [];
        previous = s;
      }
      expect(positions[b][t]).toBe(doc.length); // restarts at each document
      // a target never crosses into the next document: it is the next id of the same sequence or -100
      const next = row[t + 1];
      if (targets[b][t] !== IGNORE_INDEX)
        expect(segments[b][t + 1] === s && next === targets[b][t]).toBe(true);
      doc.push(id);
    });
    if (doc.length) docs.push(doc);
  });
  return docs;
}

const lengths = [9, 3, 7, 2, 5, 4, 8, 1, 6, 3, 2, 7];

describe('SFTDataset', () => {
  it('packs sequences side by side with segments, restarting positions and end padding (hand-checked)', () => {
    const data = new SFTDataset([seq([1, 2, 3]), seq([4, 5, 6, 7, 8]), seq([9, 10])], {
      batchSize: 2,
      contextLength: 6,
      shuffle: false,
    });
    // BFD: 5 → row 0 (room 1); 3 → row 1 (room 3); 2 → row 1 (room 1)
    expect(data.rows).toEqual([[1], [0, 2]]);
    const b = data.next();
    expect(b.ids.shape).toEqual([2, 6]);
    expect(rowsOf(b.ids)).toEqual([
      [4, 5, 6, 7, 8, 0],
      [1, 2, 3, 9, 10, 0],
    ]);
    expect(rowsOf(b.targets)).toEqual([
      [5, 6, 7, 8, -100, -100],
      [2, 3, -100, 10, -100, -100],
    ]);
    expect(rowsOf(b.segments)).toEqual([
      [0, 0, 0, 0, 0, -1],
      [0, 0, 0, 1, 1, -1],
    ]);
    expect(rowsOf(b.positions)).toEqual([
      [0, 1, 2, 3, 4, 0],
      [0, 1, 2, 0, 1, 0],
    ]);
    expect(rowsOf(b.padding)).toEqual([
      [0, 0, 0, 0, 0, 1],
      [0, 0, 0, 0, 0, 1],
    ]);
    expect(b.padding.dtype).toBe('bool');
    expect(nonPaddingTokens(b)).toBe(10);
    expect(data.stats).toMatchObject({
      sequences: 3,
      rows: 2,
      tokens: 10,
      slots: 12,
      paddingTokens: 2,
      trainedTokens: 7,
    });
  });

  it.each(['best-fit', 'pad-to-longest', 'pad-to-context'] as const)(
    '%s: every epoch yields every sequence once, each batch keeping documents apart',
    (packing) => {
      const sequences = corpus(lengths);
      const data = new SFTDataset(sequences, { batchSize: 3, contextLength: 12, packing, seed: 5 });
      const rows = data.rows.length;
      const expected = sequences.map((s) => Array.from(s.ids)).sort();
      // draw two epochs' worth of rows exactly (a multiple of batchSize) and check each epoch
      const perEpoch: number[][][] = [[], []];
      let drawn = 0;
      while (drawn < 2 * rows) {
        const batch = data.next();
        const B = batch.ids.shape[0];
        expect(B).toBe(3);
        const widths = { 'best-fit': 12, 'pad-to-context': 12 } as Record<string, number>;
        if (widths[packing]) expect(batch.ids.shape[1]).toBe(12);
        for (let b = 0; b < B; b++) {
          const row = { ...batch } as typeof batch;
          const T = batch.ids.shape[1];
          const slice = (t: HostTensor) =>
            ({ ...t, data: t.data.subarray(b * T, (b + 1) * T), shape: [1, T] }) as HostTensor;
          const one = Object.fromEntries(
            Object.entries(row).map(([k, v]) => [k, slice(v as HostTensor)]),
          ) as typeof batch;
          if (packing === 'pad-to-longest' && b === 0) {
            // as wide as the longest row of the batch
            const longest = Math.max(
              ...Array.from({ length: B }, (_, r) => rowsOf(batch.padding)[r].filter((p) => !p).length),
            );
            expect(T).toBe(longest);
          }
          if (drawn < 2 * rows) perEpoch[Math.floor(drawn / rows)].push(...documents(one, 12));
          drawn++;
        }
      }
      for (const docs of perEpoch) expect(docs.sort()).toEqual(expected);
      expect(data.epoch).toBe(Math.floor(drawn / rows) + (drawn % rows) / rows);
      if (packing !== 'best-fit') expect(rows).toBe(lengths.length);
      else expect(rows).toBeLessThan(lengths.length);
    },
  );

  it('shuffles each epoch differently, by seed, and not at all without shuffle', () => {
    const sequences = corpus(lengths);
    const order = (data: SFTDataset, batches: number) =>
      Array.from({ length: batches }, () => rowsOf(data.next().ids).map((r) => r[0]));
    const options = { batchSize: 4, contextLength: 12, packing: 'pad-to-context' } as const;
    const a = order(new SFTDataset(sequences, { ...options, seed: 1 }), 6).flat();
    const b = order(new SFTDataset(sequences, { ...options, seed: 2 }), 6).flat();
    expect(a.slice(0, 12)).not.toEqual(a.slice(12)); // epoch 1's order differs from epoch 0's
    expect(a).not.toEqual(b);
    expect([...a.slice(0, 12)].sort()).toEqual(sequences.map((s) => s.ids[0]).sort());
    const plain = order(new SFTDataset(sequences, { ...options, shuffle: false }), 3).flat();
    expect(plain).toEqual(sequences.map((s) => s.ids[0]));
  });

  it('resumes exactly from state(), through JSON, mid-epoch and across epochs', () => {
    const sequences = corpus(lengths);
    for (const packing of ['best-fit', 'pad-to-longest'] as const) {
      const options = { batchSize: 3, contextLength: 12, packing, seed: 11 };
      const a = new SFTDataset(sequences, options);
      for (let i = 0; i < 5; i++) a.next();
      const saved = JSON.parse(JSON.stringify(a.state()));
      const epoch = a.epoch;
      const continued = Array.from({ length: 7 }, () => a.next());
      const b = new SFTDataset(sequences, options);
      b.restore(saved);
      expect(b.epoch).toBe(epoch);
      const resumed = Array.from({ length: 7 }, () => b.next());
      expect(resumed).toEqual(continued);
    }
  });

  it('refuses a state of other data or options', () => {
    const sequences = corpus(lengths);
    const a = new SFTDataset(sequences, { batchSize: 2, contextLength: 12, seed: 1 });
    a.next();
    const state = a.state();
    expect(() =>
      new SFTDataset(sequences, { batchSize: 2, contextLength: 12, seed: 2 }).restore(state),
    ).toThrow(/saved with seed 1, this dataset has 2/);
    expect(() =>
      new SFTDataset(sequences, {
        batchSize: 2,
        contextLength: 12,
        seed: 1,
        packing: 'pad-to-context',
      }).restore(state),
    ).toThrow(/saved with packing "best-fit"/);
    expect(() =>
      new SFTDataset(sequences.slice(1), { batchSize: 2, contextLength: 12, seed: 1 }).restore(state),
    ).toThrow(/saved with (rows|tokens)/);
    expect(() => a.restore({ counter: 1 })).toThrow(/expected a state from SFTDataset.state\(\)/);
  });

  it('batches() is one ordered pass for evaluation, the last batch smaller, apart from the training stream', () => {
    const sequences = corpus(lengths);
    const data = new SFTDataset(sequences, { batchSize: 5, contextLength: 12, packing: 'pad-to-longest' });
    data.next();
    const state = data.state();
    const batches = [...data.batches()];
    expect(batches.map((b) => b.ids.shape[0])).toEqual([5, 5, 2]);
    expect(batches.flatMap((b) => documents(b, 12))).toEqual(sequences.map((s) => Array.from(s.ids)));
    expect(batches.map((b) => b.ids.shape[1])).toEqual([9, 8, 7]);
    expect(data.state()).toEqual(state);
  });

  it('reports padding: packing leaves less than padding each sequence to the context', () => {
    const sequences = corpus(lengths);
    const total = lengths.reduce((a, b) => a + b, 0);
    const stats = (packing: 'best-fit' | 'pad-to-longest' | 'pad-to-context') =>
      new SFTDataset(sequences, { batchSize: 4, contextLength: 12, packing, shuffle: false }).stats;
    const context = stats('pad-to-context');
    expect(context).toMatchObject({ rows: 12, tokens: total, slots: 12 * 12, paddingTokens: 144 - total });
    // in order, batches of 4: longest 9, 8, 7
    const longest = stats('pad-to-longest');
    expect(longest.slots).toBe(4 * 9 + 4 * 8 + 4 * 7);
    const packed = stats('best-fit');
    expect(packed.slots).toBe(packed.rows * 12);
    expect(packed.rows).toBe(Math.ceil(total / 12)); // 57 tokens fit in 5 rows of 12
    expect(packed.paddingFraction).toBeCloseTo((packed.slots - total) / packed.slots, 12);
    expect(packed.paddingFraction).toBeLessThan(longest.paddingFraction);
    expect(longest.paddingFraction).toBeLessThan(context.paddingFraction);
  });

  it('rejects sequences longer than the context, all-masked data and bad options', () => {
    expect(() => new SFTDataset(corpus([5, 13]), { batchSize: 1, contextLength: 12 })).toThrow(
      /sequence 1 has 13 tokens; each must have 1 to contextLength = 12 \(tokenize with maxLength ≤ 12\)/,
    );
    const masked = { ids: Int32Array.of(1, 2), targets: Int32Array.of(-100, -100) };
    expect(() => new SFTDataset([masked], { batchSize: 1, contextLength: 4 })).toThrow(
      /every target of every sequence is masked/,
    );
    expect(() => new SFTDataset([], { batchSize: 1, contextLength: 4 })).toThrow(/no sequences/);
    expect(() => new SFTDataset(corpus([2]), { batchSize: 0, contextLength: 4 })).toThrow(
      /batchSize must be an integer ≥ 1/,
    );
    expect(
      () => new SFTDataset(corpus([2]), { batchSize: 1, contextLength: 4, packing: 'greedy' as 'best-fit' }),
    ).toThrow(/packing must be 'best-fit', 'pad-to-longest', 'pad-to-context'/);
  });
});
