/**
 * Masked attention on WebGPU against the CPU reference kernels (backends/cpu/fused.ts, the
 * spec, itself checked against documents run one by one in test/attention-mask.test.ts): masks
 * built by `attentionMask` from segments and padding, forward (out, lse) and backward (dq, dk,
 * dv), in every kernel variant (forced with KILN_ATTENTION_VARIANT; one the adapter cannot run
 * falls back, e.g. onepass at head dims over 32). Shapes: documents of uneven lengths with
 * length-1 ones, left, right and mid-row padding, non-causal documents, fewer queries than keys
 * (KV-cache prefill and decode, Tq = 1), grouped-query heads, T 1…129 and D 1…64. Padding rows
 * must give exactly out = 0, lse = −∞ and zero gradients.
 */
import { attentionMask, type Backend, type DType, full, scope, type Tensor } from '@kiln/tensor';
import { attentionBackward, attentionForward } from '@kiln/tensor/internal';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compare,
  gpu,
  type HostSpec,
  make,
  randomSpec,
  shutdown,
  skipReason,
  suiteName,
  type Tolerance,
} from './helpers.js';

afterAll(shutdown);

/** As fused.test.ts: long f32 dot products against float64. */
const ATT = { rtol: 1e-4, atol: 1e-5 };
/** float16 inputs and outputs (f32 inside): a few half ulps, more where lse rounds. */
const HALF = { rtol: 1e-2, atol: 1e-2 };

/** One masked attention case: shapes, and the mask as per-row documents or padding. */
interface Case {
  name: string;
  B: number;
  H: number;
  Hkv: number;
  /** Key positions; queries are the last `Tq` of them. */
  Tk: number;
  Tq?: number;
  D: number;
  causal: boolean;
  /** Document lengths of each row (summing to Tk): segment ids 0, 1, 2, … */
  docs?: number[][];
  /** Pad runs of each row: [start, end) position ranges. */
  pads?: [number, number][][];
}

const CASES: Case[] = [
  {
    name: 'packed rows, uneven documents with length-1 ones, grouped heads',
    B: 2,
    H: 4,
    Hkv: 2,
    Tk: 33,
    D: 16,
    causal: true,
    docs: [
      [5, 1, 7, 1, 19],
      [1, 32],
    ],
  },
  {
    name: 'left padding (batched generation) and right padding (preference pairs)',
    B: 3,
    H: 2,
    Hkv: 1,
    Tk: 7,
    D: 5,
    causal: true,
    pads: [
      [[0, 3]],
      [[5, 7]],
      [
        [0, 1],
        [6, 7],
      ],
    ],
  },
  {
    name: 'padding and documents together, a pad run mid-row',
    B: 2,
    H: 2,
    Hkv: 2,
    Tk: 33,
    D: 33,
    causal: true,
    docs: [
      [4, 9, 20],
      [16, 17],
    ],
    pads: [
      [[0, 4]],
      [
        [14, 18],
        [30, 33],
      ],
    ],
  },
  {
    name: 'non-causal documents',
    B: 1,
    H: 3,
    Hkv: 3,
    Tk: 33,
    D: 64,
    causal: false,
    docs: [[12, 1, 20]],
  },
  {
    name: 'KV-cache prefill: the last 7 of 33 positions query, left padding',
    B: 2,
    H: 4,
    Hkv: 1,
    Tk: 33,
    Tq: 7,
    D: 16,
    causal: true,
    docs: [[33], [20, 13]],
    pads: [[[0, 9]], []],
  },
  {
    name: 'KV-cache decode: one query, left padding',
    B: 2,
    H: 2,
    Hkv: 2,
    Tk: 33,
    Tq: 1,
    D: 64,
    causal: true,
    pads: [[[0, 30]], [[0, 1]]],
  },
  { name: 'one token', B: 1, H: 1, Hkv: 1, Tk: 1, D: 1, causal: true, docs: [[1]] },
  {
    name: 'long rows ending mid-block',
    B: 1,
    H: 2,
    Hkv: 1,
    Tk: 129,
    D: 33,
    causal: true,
    docs: [[50, 1, 78]],
    pads: [[[125, 129]]],
  },
];

/** int32 segment ids [B, Tk] of `c`'s documents (one document per row when it has none). */
function segmentsSpec(c: Case): HostSpec {
  const docs = c.docs ?? Array.from({ length: c.B }, () => [c.Tk]);
  return {
    data: docs.flatMap((lengths) => lengths.flatMap((n, d) => Array(n).fill(d))),
    shape: [c.B, c.Tk],
    dtype: 'int32',
  };
}

/** bool padding [B, Tk] of `c`, or null. */
function paddingSpec(c: Case): HostSpec | null {
  if (!c.pads) return null;
  const data = c.pads.flatMap((runs) =>
    Array.from({ length: c.Tk }, (_, t) => (runs.some(([s, e]) => t >= s && t < e) ? 1 : 0)),
  );
  return { data, shape: [c.B, c.Tk], dtype: 'bool' };
}

/** Random inputs of `c` in `dtype` (values rounded to it on both backends alike). */
function specs(c: Case, dtype: DType) {
  const Tq = c.Tq ?? c.Tk;
  const as = (s: HostSpec): HostSpec => ({ ...s, dtype });
  const seed = c.Tk * 131 + Tq * 17 + c.D;
  return {
    q: as(randomSpec([c.B, c.H, Tq, c.D], 'float32', { seed })),
    k: as(randomSpec([c.B, c.Hkv, c.Tk, c.D], 'float32', { seed: seed + 1 })),
    v: as(randomSpec([c.B, c.Hkv, c.Tk, c.D], 'float32', { seed: seed + 2 })),
    g: as(randomSpec([c.B, c.H, Tq, c.D], 'float32', { seed: seed + 3 })),
    segments: segmentsSpec(c),
    padding: paddingSpec(c),
  };
}

/** [out, lse, dq, dk, dv] of `c` on `be`, with its mask built there by attentionMask. */
function run(be: Backend, c: Case, s: ReturnType<typeof specs>): Tensor[] {
  const [q, k, v, g] = [s.q, s.k, s.v, s.g].map((x) => make(be, x));
  const mask = attentionMask({
    causal: c.causal,
    segments: make(be, s.segments),
    padding: s.padding ? make(be, s.padding) : undefined,
    queries: c.Tq ?? c.Tk,
  });
  const [out, lse] = attentionForward(q, k, v, { mask });
  return [out, lse, ...attentionBackward(q, k, v, out, lse, g, { mask })];
}

/** Runs `body` with KILN_ATTENTION_VARIANT set to `variant`. */
async function withVariant(variant: string, body: () => Promise<void>): Promise<void> {
  process.env.KILN_ATTENTION_VARIANT = variant;
  try {
    await body();
  } finally {
    delete process.env.KILN_ATTENTION_VARIANT;
  }
}

/** Every case of `cases` on webgpu against cpu in `dtype`. */
async function compareCases(variant: string, cases: Case[], dtype: DType, tol: Tolerance): Promise<void> {
  for (const c of cases) {
    const s = specs(c, dtype);
    await compare((be) => run(be, c, s), tol, `${variant} ${dtype} ${c.name}`);
  }
}

const VARIANTS = ['onepass', 'subgroup', 'rows'];

describe.skipIf(!!skipReason)(suiteName('masked attention: webgpu vs cpu'), () => {
  for (const variant of VARIANTS)
    it(`${variant} kernels, float32`, () =>
      withVariant(variant, () => compareCases(variant, CASES, 'float32', ATT)),
      // compiles a pipeline per case; lavapipe's shader compiler alone is 20–60 s under load
      180_000);

  // the subgroup kernels take float16 up to head dim 32, the row kernels any
  const halfCases = CASES.filter((c) => c.D <= 32 && c.Tk <= 33);
  for (const variant of ['subgroup', 'rows'])
    it.skipIf(!gpu?.info.dtypes.includes('float16'))(`${variant} kernels, float16`, () =>
      withVariant(variant, () => compareCases(variant, halfCases, 'float16', HALF)),
    );

  it('gradients do not depend on what recycled buffers held (the one-pass dq adds onto zeros)', async () => {
    const c = CASES[0];
    const s = specs(c, 'float32');
    await withVariant('onepass', async () => {
      // NaN-filled buffers of the gradients' sizes back in the pool, so the outputs reuse them
      for (const shape of [s.q.shape, s.k.shape])
        for (const t of Array.from({ length: 8 }, () => full(shape, Number.NaN, { backend: gpu }))) {
          await t.data();
          t.dispose();
        }
      await compare((be) => run(be, c, s), ATT, `onepass after NaN buffers ${c.name}`);
    });
  });

  it('padding gives exactly out = 0, lse = −∞ and zero gradients in every variant', async () => {
    const c = CASES[1];
    const s = specs(c, 'float32');
    for (const variant of VARIANTS)
      await withVariant(variant, async () => {
        const outputs = scope(() => run(gpu!, c, s));
        const expected = [0, Number.NEGATIVE_INFINITY, 0, 0, 0];
        const names = ['out', 'lse', 'dq', 'dk', 'dv'];
        for (const [row, runs] of c.pads!.entries())
          for (const [start, end] of runs)
            for (const [i, t] of outputs.entries()) {
              const pad = t.slice(0, row, row + 1).slice(2, start, end);
              expect(new Set(await pad.data()), `${variant} row ${row} ${names[i]}`).toEqual(
                new Set([expected[i]]),
              );
              pad.dispose();
            }
        for (const t of outputs) t.dispose();
      });
  });
});
