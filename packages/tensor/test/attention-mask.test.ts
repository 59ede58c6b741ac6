/**
 * Masked attention on the CPU: the visible ranges `attentionMask` builds (checked against
 * hand-computed ones), and attention under segments and padding against independent
 * references — each document of a packed row run alone with plain causal attention, each padded
 * row run without its padding — forward (out, lse) and backward (dq, dk, dv), on the fused CPU
 * kernels and on the composite a backend without them uses.
 */
import {
  attentionMask,
  type Backend,
  CpuBackend,
  concat,
  initBackend,
  scope,
  type Tensor,
  tensor,
} from '@kiln/tensor';
import { attentionBackward, attentionForward } from '@kiln/tensor/internal';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSame, make, randomSpec } from './webgpu/helpers.js';

const TOL = { rtol: 1e-5, atol: 1e-6 };

let cpu: Backend;
/** A CPU backend without the fused attention kernels: attention falls back to its composite. */
const plain: Backend = Object.assign(new CpuBackend(), {
  attention: undefined,
  attentionBackward: undefined,
});

beforeAll(async () => {
  cpu = await initBackend('cpu');
});

const ints = (be: Backend, rows: number[][]) => tensor(rows, { dtype: 'int32', backend: be });
const bools = (be: Backend, rows: boolean[][]) =>
  tensor(
    rows.map((r) => r.map(Number)),
    { dtype: 'bool', backend: be },
  );

async function rangesOf(mask: ReturnType<typeof attentionMask>): Promise<[unknown, unknown]> {
  return [await mask.ranges!.keys.toArray(), await mask.ranges!.queries.toArray()];
}

describe('attentionMask: visible ranges', () => {
  it('causal documents: each query sees its document up to itself; each key is seen by its document from itself on', async () => {
    const mask = attentionMask({
      causal: true,
      segments: ints(cpu, [
        [0, 0, 0, 1, 1],
        [2, 2, 2, 2, 2],
      ]),
    });
    expect(mask.causal).toBe(true);
    const [keys, queries] = await rangesOf(mask);
    expect(keys).toEqual([
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [3, 4],
        [3, 5],
      ],
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [0, 4],
        [0, 5],
      ],
    ]);
    expect(queries).toEqual([
      [
        [0, 3],
        [1, 3],
        [2, 3],
        [3, 5],
        [4, 5],
      ],
      [
        [0, 5],
        [1, 5],
        [2, 5],
        [3, 5],
        [4, 5],
      ],
    ]);
  });

  it('left padding: pad queries see nothing and pad keys are seen by nobody (empty ranges at their own position)', async () => {
    const mask = attentionMask({ causal: true, padding: bools(cpu, [[true, true, false, false, false]]) });
    const [keys, queries] = await rangesOf(mask);
    expect(keys).toEqual([
      [
        [0, 0],
        [1, 1],
        [2, 3],
        [2, 4],
        [2, 5],
      ],
    ]);
    expect(queries).toEqual([
      [
        [0, 0],
        [1, 1],
        [2, 5],
        [3, 5],
        [4, 5],
      ],
    ]);
  });

  it('non-causal documents and a run of the same id later count as separate documents', async () => {
    const mask = attentionMask({ segments: ints(cpu, [[4, 4, 7, 4]]) });
    const [keys, queries] = await rangesOf(mask);
    expect(keys).toEqual([
      [
        [0, 2],
        [0, 2],
        [2, 3],
        [3, 4],
      ],
    ]);
    expect(queries).toEqual(keys);
  });

  it('fewer queries than keys (a KV cache): the queries are the last positions', async () => {
    const mask = attentionMask({ causal: true, segments: ints(cpu, [[0, 0, 1, 1, 1]]), queries: 2 });
    const [keys, queries] = await rangesOf(mask);
    expect(keys).toEqual([
      [
        [2, 4],
        [2, 5],
      ],
    ]);
    // query indices: positions 3 and 4 are queries 0 and 1; keys 0 and 1 are seen by no query
    expect(queries).toEqual([
      [
        [0, 0],
        [0, 0],
        [0, 2],
        [0, 2],
        [1, 2],
      ],
    ]);
  });

  it('without segments or padding there are no ranges', () => {
    expect(attentionMask({ causal: true })).toEqual({ causal: true, ranges: null });
  });

  it('bad input is refused with a message that names it', () => {
    expect(() => attentionMask({ segments: tensor([[0, 1]], { backend: cpu }) })).toThrow(
      /segments must be int32/,
    );
    expect(() => attentionMask({ padding: tensor([[0, 1]], { backend: cpu }) })).toThrow(
      /padding must be bool/,
    );
    expect(() => attentionMask({ segments: ints(cpu, [[0, 1]]), queries: 3 })).toThrow(
      /queries must be an integer in \[0, 2\]/,
    );
    expect(() =>
      attentionMask({ segments: ints(cpu, [[0, 1]]), padding: bools(cpu, [[false, false, true]]) }),
    ).toThrow(/must match segments/);
  });
});

/** Random q [B, H, T, D], k/v [B, Hkv, T, D] and upstream gradient on `be`. */
function inputs(
  be: Backend,
  B: number,
  H: number,
  Hkv: number,
  Tq: number,
  Tk: number,
  D: number,
  seed: number,
) {
  return {
    q: make(be, randomSpec([B, H, Tq, D], 'float32', { seed })),
    k: make(be, randomSpec([B, Hkv, Tk, D], 'float32', { seed: seed + 1 })),
    v: make(be, randomSpec([B, Hkv, Tk, D], 'float32', { seed: seed + 2 })),
    g: make(be, randomSpec([B, H, Tq, D], 'float32', { seed: seed + 3 })),
  };
}

/** [out, lse, dq, dk, dv] of attention under `options`. */
function run(x: ReturnType<typeof inputs>, options: Parameters<typeof attentionForward>[3]): Tensor[] {
  const [out, lse] = attentionForward(x.q, x.k, x.v, options);
  return [out, lse, ...attentionBackward(x.q, x.k, x.v, out, lse, x.g, options)];
}

/** The T-axis slice [start, end) of every input (one document of a packed row, one batch row). */
function sliceInputs(x: ReturnType<typeof inputs>, row: number, start: number, end: number) {
  const cut = (t: Tensor) => t.slice(0, row, row + 1).slice(2, start, end);
  return { q: cut(x.q), k: cut(x.k), v: cut(x.v), g: cut(x.g) };
}

/** Runs masked attention on `be` and returns its five outputs for comparison. */
async function expectOutputs(actual: Tensor[], expected: Tensor[], what: string): Promise<void> {
  const names = ['out', 'lse', 'dq', 'dk', 'dv'];
  for (let i = 0; i < expected.length; i++)
    await expectSame(actual[i], expected[i], TOL, `${what} ${names[i]}`);
}

for (const [name, backend] of [
  ['fused cpu kernels', () => cpu],
  ['composite', () => plain],
] as const) {
  describe(`masked attention equals its parts run alone (${name})`, () => {
    it('a packed row equals its documents run one by one, forward and backward', async () => {
      const be = backend();
      // rows of 13 tokens: documents of 5, 1 and 7 tokens, and one of 13; grouped heads, odd D
      const docs = [[5, 1, 7], [13]];
      const segments = ints(
        be,
        docs.map((lengths) => lengths.flatMap((n, d) => Array(n).fill(d))),
      );
      const x = inputs(be, 2, 4, 2, 13, 13, 5, 11);
      const packed = scope(() => run(x, { mask: attentionMask({ causal: true, segments }) }));
      const alone = scope(() => {
        // each document alone, plain causal attention, put back in place along T (and batch)
        const rows = docs.map((lengths, row) => {
          let start = 0;
          const parts = lengths.map((n) => {
            const part = run(sliceInputs(x, row, start, start + n), { causal: true });
            start += n;
            return part;
          });
          return [0, 1, 2, 3, 4].map((i) =>
            concat(
              parts.map((p) => p[i]),
              2,
            ),
          );
        });
        return [0, 1, 2, 3, 4].map((i) => concat([rows[0][i], rows[1][i]], 0));
      });
      await expectOutputs(packed, alone, 'packed');
      for (const t of [...packed, ...alone]) t.dispose();
    });

    it('a padded batch equals its rows run alone; padding gives zeros (and lse −∞)', async () => {
      const be = backend();
      const T = 9;
      // row 0: 3 pad tokens on the left (batched generation); row 1: 2 on the right (preference pairs)
      const pads = [
        [3, 0],
        [0, 2],
      ];
      const padding = bools(
        be,
        pads.map(([left, right]) => Array.from({ length: T }, (_, t) => t < left || t >= T - right)),
      );
      const x = inputs(be, 2, 2, 1, T, T, 33, 21);
      const [out, lse, dq, dk, dv] = scope(() => run(x, { mask: attentionMask({ causal: true, padding }) }));
      for (const [row, [left, right]] of pads.entries()) {
        const real = scope(() => run(sliceInputs(x, row, left, T - right), { causal: true }));
        const got = [out, lse, dq, dk, dv].map((t) => t.slice(0, row, row + 1).slice(2, left, T - right));
        await expectOutputs(got, real, `row ${row}`);
        for (const t of [...real, ...got]) t.dispose();
        for (const [start, end] of [
          [0, left],
          [T - right, T],
        ]) {
          if (start === end) continue;
          for (const [t, value, what] of [
            [out, 0, 'out'],
            [lse, Number.NEGATIVE_INFINITY, 'lse'],
            [dq, 0, 'dq'],
            [dk, 0, 'dk'],
            [dv, 0, 'dv'],
          ] as const) {
            const pad = t.slice(0, row, row + 1).slice(2, start, end);
            expect(new Set(await pad.data()), `row ${row} ${what} at padding`).toEqual(new Set([value]));
            pad.dispose();
          }
        }
      }
      for (const t of [out, lse, dq, dk, dv]) t.dispose();
    });

    it('non-causal documents: each document alone without a causal mask', async () => {
      const be = backend();
      const segments = ints(be, [[0, 0, 0, 0, 1, 1, 1]]);
      const x = inputs(be, 1, 3, 3, 7, 7, 4, 31);
      const packed = scope(() => run(x, { mask: attentionMask({ segments }) }));
      const alone = scope(() => {
        const parts = [
          [0, 4],
          [4, 7],
        ].map(([s, e]) => run(sliceInputs(x, 0, s, e), { causal: false }));
        return [0, 1, 2, 3, 4].map((i) =>
          concat(
            parts.map((p) => p[i]),
            2,
          ),
        );
      });
      await expectOutputs(packed, alone, 'non-causal');
      for (const t of [...packed, ...alone]) t.dispose();
    });

    it('the last Tq queries of a masked row (a KV cache) equal those rows of the full pass', async () => {
      const be = backend();
      const [Tk, Tq] = [10, 3];
      const ids = [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1]];
      const full = inputs(be, 1, 2, 2, Tk, Tk, 6, 41);
      // the upstream gradient reaches only the last Tq queries, so dk and dv must agree too
      const g = scope(() => concat([full.g.slice(2, 0, Tk - Tq).mul(0), full.g.slice(2, Tk - Tq)], 2));
      const whole = scope(() =>
        run({ ...full, g }, { mask: attentionMask({ causal: true, segments: ints(be, ids) }) }),
      );
      const last = { ...full, q: full.q.slice(2, Tk - Tq), g: full.g.slice(2, Tk - Tq) };
      const part = scope(() =>
        run(last, { mask: attentionMask({ causal: true, segments: ints(be, ids), queries: Tq }) }),
      );
      const tail = (t: Tensor) => t.slice(2, Tk - Tq);
      await expectOutputs(
        part,
        [tail(whole[0]), tail(whole[1]), tail(whole[2]), whole[3], whole[4]],
        'cached',
      );
      for (const t of [...whole, ...part]) t.dispose();
    });
  });
}

describe('attention options', () => {
  it('refuses ranges of the wrong shape and a causal flag that contradicts the mask', () => {
    const x = inputs(cpu, 1, 1, 1, 4, 4, 2, 51);
    const mask = attentionMask({ causal: true, segments: ints(cpu, [[0, 0, 1, 1, 1]]) });
    expect(() => attentionForward(x.q, x.k, x.v, { mask })).toThrow(/mask.ranges.keys must be \[1, 4, 2\]/);
    const fine = attentionMask({ causal: true, segments: ints(cpu, [[0, 0, 1, 1]]) });
    expect(() => attentionForward(x.q, x.k, x.v, { mask: fine, causal: false })).toThrow(/contradicts/);
  });
});
