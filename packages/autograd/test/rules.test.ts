/**
 * Finite differences in float64 on cpu for every gradient rule, on random shapes (seeded).
 * Each case runs gradCheck: analytic gradients against central differences, both float64.
 */
import * as T from '@kiln/tensor';
import { OPS } from '@kiln/tensor/internal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type GradCheckOptions, gradCheck, NON_DIFFERENTIABLE, RULES } from '../src/index.js';
import { awayFromZero, broadcastable, ids, initCpu, int, normal, rng, shape, uniform } from './helpers.js';

type Tensor = T.Tensor;
interface Case {
  name: string;
  inputs: () => Tensor[];
  f: (...xs: Tensor[]) => Tensor;
  options?: GradCheckOptions;
}

const seen = new Set<string>();
let removeHook: () => void = () => {};
beforeAll(async () => {
  await initCpu();
  removeHook = T.addDispatchHook((rec) => seen.add(rec.op));
});
afterAll(() => removeHook());

const r = rng(20241122);
const cases: Case[] = [];
const add = (name: string, inputs: () => Tensor[], f: Case['f'], options?: GradCheckOptions) =>
  cases.push({ name, inputs, f, options });
let seed = 1;
const nextSeed = () => seed++;

// ---- elementwise, one operand -------------------------------------------------------------------
type Domain = 'normal' | 'positive' | 'away';
const values = (s: number[], d: Domain, k: number) =>
  d === 'normal' ? normal(s, k) : d === 'positive' ? uniform(s, k, 0.5, 2) : awayFromZero(s, k);
const unary: [string, (x: Tensor) => Tensor, Domain][] = [
  ['neg', (x) => x.neg(), 'normal'],
  ['abs', (x) => x.abs(), 'away'],
  ['exp', (x) => x.exp(), 'normal'],
  ['log', (x) => x.log(), 'positive'],
  ['sqrt', (x) => x.sqrt(), 'positive'],
  ['rsqrt', (x) => x.rsqrt(), 'positive'],
  ['sin', (x) => x.sin(), 'normal'],
  ['cos', (x) => x.cos(), 'normal'],
  ['tanh', (x) => x.tanh(), 'normal'],
  ['sigmoid', (x) => x.sigmoid(), 'normal'],
  ['relu', (x) => x.relu(), 'away'],
  ['gelu', (x) => x.gelu(), 'normal'],
  ['geluTanh', (x) => x.gelu({ approximate: 'tanh' }), 'normal'],
  ['silu', (x) => x.silu(), 'normal'],
  ['square', (x) => x.square(), 'normal'],
  ['reciprocal', (x) => x.reciprocal(), 'away'],
  ['sign (zero gradient)', (x) => x.sign().mul(x), 'away'],
  ['floor (zero gradient)', (x) => T.floor(x).add(x.mul(0.5)), 'normal'],
  ['ceil (zero gradient)', (x) => T.ceil(x).add(x.mul(0.5)), 'normal'],
  ['round (zero gradient)', (x) => T.round(x).add(x.mul(0.5)), 'normal'],
  ['clamp [-0.5, 0.5]', (x) => x.clamp(-0.5, 0.5), 'normal'],
  ['clamp min only', (x) => x.clamp(0.1), 'normal'],
  ['clamp max only', (x) => x.clamp(undefined, -0.1), 'normal'],
];
for (const [name, f, domain] of unary) {
  for (let trial = 0; trial < 2; trial++) {
    const s = shape(r, 0, 3);
    const k = nextSeed();
    add(`${name} ${JSON.stringify(s)}`, () => [values(s, domain, k)], f);
  }
}

// ---- elementwise, two operands, with broadcasting ------------------------------------------------
const binary: [string, (a: Tensor, b: Tensor) => Tensor, Domain, Domain][] = [
  ['add', (a, b) => a.add(b), 'normal', 'normal'],
  ['sub', (a, b) => a.sub(b), 'normal', 'normal'],
  ['mul', (a, b) => a.mul(b), 'normal', 'normal'],
  ['div', (a, b) => a.div(b), 'normal', 'away'],
  ['pow', (a, b) => a.pow(b), 'positive', 'normal'],
  ['maximum', (a, b) => a.maximum(b), 'normal', 'normal'],
  ['minimum', (a, b) => a.minimum(b), 'normal', 'normal'],
];
for (const [name, f, da, db] of binary) {
  for (let trial = 0; trial < 3; trial++) {
    const out = shape(r, 1, 3);
    const sa = trial === 0 ? out : broadcastable(r, out);
    const sb = broadcastable(r, out);
    const [ka, kb] = [nextSeed(), nextSeed()];
    add(
      `${name} ${JSON.stringify(sa)} with ${JSON.stringify(sb)}`,
      () => [values(sa, da, ka), values(sb, db, kb)],
      f,
    );
  }
}
add(
  'mul by a number',
  () => [normal([3, 2], nextSeed())],
  (x) => x.mul(3),
);
add(
  'number minus tensor',
  () => [normal([4], nextSeed())],
  (x) => T.sub(2, x),
);
add(
  'number over tensor',
  () => [awayFromZero([2, 3], nextSeed())],
  (x) => T.div(1, x),
);
add(
  'pow with a number exponent',
  () => [uniform([5], nextSeed(), 0.5, 2)],
  (x) => x.pow(2.5),
);
add(
  'pow with a number base',
  () => [normal([2, 2], nextSeed())],
  (x) => T.pow(1.7, x),
);
add(
  'x * x (one input used twice)',
  () => [normal([3], nextSeed())],
  (x) => x.mul(x),
);
{
  const s = [3, 4];
  const [kc, ka, kb] = [nextSeed(), nextSeed(), nextSeed()];
  const cond = () => normal(s, kc).gt(0);
  add(
    'where [3,4] / [4] / [3,1]',
    () => [cond(), normal([4], ka), normal([3, 1], kb)],
    (c, a, b) => T.where(c, a, b),
  );
  add(
    'where with a number',
    () => [cond(), normal(s, ka)],
    (c, a) => T.where(c, a, 0),
  );
}

// ---- reductions -----------------------------------------------------------------------------------
const reductions: [string, (x: Tensor, axes: number[] | undefined, keep: boolean) => Tensor, Domain][] = [
  ['sum', (x, a, k) => x.sum(a, k), 'normal'],
  ['mean', (x, a, k) => x.mean(a, k), 'normal'],
  ['max', (x, a, k) => x.max(a, k), 'normal'],
  ['min', (x, a, k) => x.min(a, k), 'normal'],
  ['prod', (x, a, k) => x.prod(a, k), 'away'],
  ['var', (x, a, k) => x.var(a, { keepDim: k }), 'normal'],
  ['logsumexp', (x, a, k) => x.logsumexp(a, k), 'normal'],
];
for (const [name, f, domain] of reductions) {
  for (let trial = 0; trial < 3; trial++) {
    const s = shape(r, 1, 3, 4).map((d) => (name === 'var' ? Math.max(d, 2) : d));
    const axes = trial === 0 ? undefined : s.map((_, i) => i).filter(() => r() < 0.5);
    if (axes && axes.length === 0) axes.push(int(r, 0, s.length - 1));
    const keep = r() < 0.5;
    const k = nextSeed();
    add(
      `${name} ${JSON.stringify(s)} axes ${JSON.stringify(axes)} keepDim ${keep}`,
      () => [values(s, domain, k)],
      (x) => f(x, axes, keep),
    );
  }
}
add(
  'prod with one zero in a row',
  () => [
    T.tensor([
      [0, 2, 3],
      [1, -2, 0.5],
    ]),
  ],
  (x) => x.prod(1),
);
add(
  'prod with two zeros in a row',
  () => [
    T.tensor([
      [0, 2, 0],
      [1, -2, 0.5],
    ]),
  ],
  (x) => x.prod(1, true),
);
for (let trial = 0; trial < 2; trial++) {
  const s = shape(r, 1, 3, 5);
  const axis = int(r, 0, s.length - 1);
  const k = nextSeed();
  add(
    `cumsum ${JSON.stringify(s)} axis ${axis}`,
    () => [normal(s, k)],
    (x) => x.cumsum(axis),
  );
}

// ---- matmul ---------------------------------------------------------------------------------------
const matmuls: [number[], number[]][] = [
  [
    [3, 4],
    [4, 2],
  ],
  [[4], [4, 3]],
  [[3, 4], [4]],
  [[5], [5]],
  [
    [2, 3, 4],
    [2, 4, 5],
  ],
  [
    [2, 1, 3, 4],
    [5, 4, 2],
  ],
  [
    [2, 3, 4],
    [4, 3],
  ],
  [
    [3, 4],
    [2, 4, 2],
  ],
  [[2, 3, 4], [4]],
];
for (const [sa, sb] of matmuls) {
  const [ka, kb] = [nextSeed(), nextSeed()];
  add(
    `matmul ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`,
    () => [normal(sa, ka), normal(sb, kb)],
    (a, b) => a.matmul(b),
  );
}
add(
  'matmul of a transposed view',
  () => [normal([4, 3], nextSeed()), normal([4, 2], nextSeed())],
  (a, b) => a.T.matmul(b),
);

// ---- fused building blocks ------------------------------------------------------------------------
for (let trial = 0; trial < 2; trial++) {
  const s = shape(r, 1, 3, 5);
  const axis = int(r, 0, s.length - 1);
  const k = nextSeed();
  add(
    `softmax ${JSON.stringify(s)} axis ${axis}`,
    () => [normal(s, k)],
    (x) => x.softmax(axis),
  );
  add(
    `logSoftmax ${JSON.stringify(s)} axis ${axis}`,
    () => [normal(s, k)],
    (x) => x.logSoftmax(axis),
  );
}
{
  const s = [2, 3, 5];
  const [kx, kw, kb] = [nextSeed(), nextSeed(), nextSeed()];
  add(
    'layerNorm with weight and bias',
    () => [normal(s, kx), normal([5], kw), normal([5], kb)],
    (x, w, b) => T.layerNorm(x, w, b),
  );
  add(
    'layerNorm with weight only',
    () => [normal(s, kx), normal([5], kw)],
    (x, w) => T.layerNorm(x, w, null, { eps: 1e-3 }),
  );
  add(
    'layerNorm with bias only',
    () => [normal([4, 3], kx), normal([3], kb)],
    (x, b) => T.layerNorm(x, null, b),
  );
  add(
    'layerNorm without affine, 1-D',
    () => [normal([6], kx)],
    (x) => T.layerNorm(x),
  );
  add(
    'rmsNorm with weight',
    () => [normal(s, kx), normal([5], kw)],
    (x, w) => T.rmsNorm(x, w),
  );
  add(
    'rmsNorm without weight',
    () => [normal([3, 4], kx)],
    (x) => T.rmsNorm(x, null, { eps: 1e-2 }),
  );
}
{
  const k = nextSeed();
  const targets = T.tensor;
  add(
    'crossEntropy mean with ignored targets',
    () => [normal([5, 4], k), targets([1, -100, 3, 0, -100], { dtype: 'int32' })],
    (l, t) => T.crossEntropy(l, t),
  );
  add(
    'crossEntropy sum',
    () => [normal([5, 4], k), targets([1, 2, 3, 0, 2], { dtype: 'int32' })],
    (l, t) => T.crossEntropy(l, t, { reduction: 'sum' }),
  );
  add(
    'crossEntropy none [2,3,4], ignoreIndex 0',
    () => [
      normal([2, 3, 4], k),
      targets(
        [
          [1, 0, 3],
          [0, 2, 2],
        ],
        { dtype: 'int32' },
      ),
    ],
    (l, t) => T.crossEntropy(l, t, { reduction: 'none', ignoreIndex: 0 }),
  );
}

add(
  'attention causal, grouped heads',
  () => [
    normal([1, 2, 3, 4], nextSeed()),
    normal([1, 1, 3, 4], nextSeed()),
    normal([1, 1, 3, 4], nextSeed()),
  ],
  (q, k, v) => T.attention(q, k, v, { causal: true }),
);

// ---- indexing -------------------------------------------------------------------------------------
add(
  'gather axis 0 with repeated indices',
  () => [normal([4, 3], nextSeed()), ids([6, 3], 4, nextSeed())],
  (x, i) => x.gather(0, i),
);
add(
  'gather axis 1',
  () => [normal([3, 5], nextSeed()), ids([2, 7], 5, nextSeed())],
  (x, i) => x.gather(1, i),
);
add(
  'indexSelect axis 0 with repeats',
  () => [normal([5, 3], nextSeed()), T.tensor([4, 0, 4, 2, 4, 1], { dtype: 'int32' })],
  (x, i) => x.indexSelect(0, i),
);
add(
  'indexSelect axis 1',
  () => [normal([2, 5, 2], nextSeed()), T.tensor([1, 1, 3], { dtype: 'int32' })],
  (x, i) => x.indexSelect(1, i),
);
add(
  'embedding with repeated ids',
  () => [
    T.tensor(
      [
        [1, 3, 1],
        [0, 3, 3],
      ],
      { dtype: 'int32' },
    ),
    normal([5, 4], nextSeed()),
  ],
  (i, w) => T.embedding(i, w),
);
add(
  'scatterAdd (x and src)',
  () => [normal([4, 3], nextSeed()), ids([5, 3], 4, nextSeed()), normal([5, 3], nextSeed())],
  (x, i, s) => T.scatterAdd(x, 0, i, s),
);
add(
  'scatterAdd axis 1',
  () => [normal([2, 4], nextSeed()), ids([2, 6], 4, nextSeed()), normal([2, 6], nextSeed())],
  (x, i, s) => T.scatterAdd(x, 1, i, s),
);
add(
  'topk values along the last axis',
  () => [normal([3, 6], nextSeed())],
  (x) => T.topk(x, 3)[0],
);
add(
  'topk smallest along axis 0',
  () => [normal([5, 2], nextSeed())],
  (x) => T.topk(x, 2, { axis: 0, largest: false })[0],
);

// ---- joins, padding, views ------------------------------------------------------------------------
add(
  'concat along axis 1',
  () => [normal([2, 1], nextSeed()), normal([2, 3], nextSeed()), normal([2, 2], nextSeed())],
  (a, b, c) => T.concat([a, b, c], 1),
);
add(
  'stack along a new axis 1',
  () => [normal([3, 2], nextSeed()), normal([3, 2], nextSeed())],
  (a, b) => T.stack([a, b], 1),
);
add(
  'split and recombine',
  () => [normal([2, 5], nextSeed())],
  (x) => {
    const [a, b, c] = x.split([1, 2, 2], 1);
    return T.concat([c.mul(2), a, b.sin()], 1);
  },
);
add(
  'chunk',
  () => [normal([5, 2], nextSeed())],
  (x) => {
    const [a, b] = x.chunk(2, 0);
    return a.sum(0).mul(b.sum(0));
  },
);
add(
  'pad last two dims with a value',
  () => [normal([2, 3, 2], nextSeed())],
  (x) =>
    T.pad(
      x,
      [
        [1, 0],
        [2, 1],
      ],
      1.5,
    ).square(),
);
add(
  'reshape',
  () => [normal([2, 6], nextSeed())],
  (x) =>
    x
      .reshape([3, -1, 2])
      .sin()
      .reshape([4, 3])
      .mul(x.reshape([4, 3])),
);
add(
  'squeeze, unsqueeze, flatten',
  () => [normal([2, 1, 3], nextSeed())],
  (x) => x.squeeze(1).unsqueeze(0).flatten().sin(),
);
add(
  'permute',
  () => [normal([2, 3, 4], nextSeed())],
  (x) => x.permute([2, 0, 1]).cumsum(0),
);
add(
  'transpose and T',
  () => [normal([3, 4], nextSeed())],
  (x) => x.transpose(0, 1).add(x.T.mul(2)).exp(),
);
add(
  'slice step 1',
  () => [normal([4, 5], nextSeed())],
  (x) => x.slice(1, 1, 4),
);
add(
  'slice step 2, negative start',
  () => [normal([7, 2], nextSeed())],
  (x) => x.slice(0, -6, undefined, 2),
);
add(
  'narrow',
  () => [normal([3, 6], nextSeed())],
  (x) => x.narrow(1, 2, 3).square(),
);
add(
  'expand',
  () => [normal([3, 1], nextSeed())],
  (x) => x.expand([2, 3, 4]).cumsum(2),
);
add(
  'broadcastTo',
  () => [normal([4], nextSeed())],
  (x) => x.broadcastTo([3, 4]).mul(x),
);
add(
  'contiguous of a permuted view',
  () => [normal([3, 4], nextSeed())],
  (x) => x.T.contiguous().tanh(),
);
add(
  'cast float32 → float32',
  () => [normal([3], nextSeed())],
  (x) => x.cast('float32').mul(x),
);
add(
  'tril and triu',
  () => [normal([4, 4], nextSeed())],
  (x) => T.tril(x, -1).add(T.triu(x, 1).mul(3)),
);
// ---- matmul epilogue (appended last so the seeds of the cases above stay as they were) -----------
add(
  'matmulEpilogue: bias + geluTanh on a transposed weight',
  () => [normal([2, 3, 4], nextSeed()), normal([5, 4], nextSeed()), normal([5], nextSeed())],
  (x, w, b) => T.matmulEpilogue(x, w.T, { bias: b, activation: 'geluTanh' }),
);
add(
  'matmulEpilogue: silu, pre-activation kept',
  () => [normal([3, 4], nextSeed()), normal([4, 2], nextSeed())],
  (a, b) => T.matmulEpilogue(a, b, { activation: 'silu', keepPreActivation: true }),
);

// ---- mixture of experts (appended last so the seeds of the cases above stay as they were) -------
const int32 = (data: number[], shape: number[]) => T.tensor(data, { dtype: 'int32', shape });
// 7 rows in groups of 2, 0 (empty), 4; row 6 in no group
const moeEnds = () => int32([2, 2, 6], [3]);
// 3 tokens × 2 choices over 7 rows; token 1's second choice dropped, row 4 unused
const moeSlots = () => int32([5, 0, 2, -1, 3, 6], [3, 2]);
add(
  'groupedMatmul: uneven and empty groups, transposed weights',
  () => [normal([7, 3], nextSeed()), normal([3, 4, 3], nextSeed()), moeEnds()],
  (x, w, ends) => T.groupedMatmul(x, w.permute([0, 2, 1]), ends),
);
add(
  'groupedOuter',
  () => [normal([7, 3], nextSeed()), normal([7, 2], nextSeed()), moeEnds()],
  (x, y, ends) => T.groupedOuter(x, y, ends),
);
add(
  'dispatchRows with gates, dropped slot',
  () => [normal([3, 4], nextSeed()), moeSlots(), normal([3, 2], nextSeed())],
  (x, slots, gates) => T.dispatchRows(x, slots, 7, gates).add(T.dispatchRows(x, slots, 7).square()),
);
add(
  'combineRows with gates, dropped slot',
  () => [normal([7, 4], nextSeed()), moeSlots(), normal([3, 2], nextSeed())],
  (y, slots, gates) => T.combineRows(y, slots, gates).add(T.combineRows(y.square(), slots)),
);
add(
  'slotDots',
  () => [normal([3, 4], nextSeed()), normal([7, 4], nextSeed()), moeSlots()],
  (x, y, slots) => T.slotDots(x, y, slots),
);

describe('finite differences (float64, cpu) for every rule', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const result = await gradCheck(c.f, c.inputs(), c.options);
      expect(result.ok).toBe(true);
      expect(result.checked).toBeGreaterThan(0);
    });
  }
});

describe('coverage', () => {
  test('every rule in the table was exercised above', () => {
    const missing = Object.keys(RULES).filter((op) => !seen.has(op));
    expect(missing).toEqual([]);
  });

  test('every op @kiln/tensor reports has a rule or is declared non-differentiable', () => {
    // from @kiln/tensor's op table: every op dispatch reports (composites are reported as their
    // parts) that autograd may record, i.e. all but creation ops (no tensor inputs), in-place
    // writes (counted, never differentiated) and the fused backward ops (no rules by design:
    // their composites are recorded under createGraph)
    const reported = Object.entries(OPS)
      .filter(([, spec]) => !['composite', 'creation', 'inPlace', 'backward'].includes(spec.kind))
      .map(([op]) => op);
    expect(reported.length).toBeGreaterThan(50);
    const unknown = reported.filter((op) => !(op in RULES) && !(op in NON_DIFFERENTIABLE));
    expect(unknown).toEqual([]);
  });

  test('every rule is for a differentiable op of the table, and every op seen is in the table', () => {
    const stray = Object.keys(RULES).filter(
      (op) => !(op in OPS) || OPS[op as keyof typeof OPS].kind !== 'differentiable',
    );
    expect(stray).toEqual([]);
    expect([...seen].filter((op) => !(op in OPS))).toEqual([]);
  });
});
