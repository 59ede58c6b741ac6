// trainStep: micro-batches are averaged by weight, so a step over micro-batches with masked
// targets of uneven counts gives the loss and gradients of one batch holding them all (against
// plain autograd over that batch), on the CPU and (when there is an adapter) on WebGPU; custom
// objectives (a pairwise loss, checked against gradients computed by hand); all-masked
// micro-batches; and clear errors for bad objective output.
import { backward, Module, Parameter } from '@kiln/autograd';
import {
  type Backend,
  destroyBackend,
  init,
  initBackend,
  manualSeed,
  type Tensor,
  tensor,
} from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchInput,
  hostTensor,
  type LanguageModelBatchInput,
  languageModelObjective,
  type Objective,
  TokenDataset,
  trainStep,
} from '../src/index.js';
import { GradCapture } from './helpers/grad-capture.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

let gpu: Backend | undefined;
let skipReason = '';
try {
  gpu = await initBackend('webgpu');
} catch (error) {
  skipReason = `no WebGPU adapter (${(error as Error).message.split('\n')[0]})`;
}

beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(async () => {
  if (gpu) await destroyBackend('webgpu');
});

const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
const T = 8;
const windows = new TokenDataset(tokens, { contextLength: T }).batchAt([0, 37, 101, 250]);

/** Rows `[from, to)` of the windows, with targets kept only at the given flat positions (the rest -100). */
function rows(from: number, to: number, keep: (i: number) => boolean): LanguageModelBatchInput {
  const ids = windows.inputs.slice(from * T, to * T);
  const targets = windows.targets.slice(from * T, to * T).map((t, i) => (keep(i) ? t : -100));
  return { ids: hostTensor(ids, [to - from, T]), targets: hostTensor(targets, [to - from, T]) };
}

/** Micro-batch A: 2 rows with 3 valid targets; B: 2 rows with 11; and one batch holding both. */
const keepA = (i: number) => i === 2 || i === 9 || i === 15;
const keepB = (i: number) => i < 11;
const microA = rows(0, 2, keepA);
const microB = rows(2, 4, keepB);
const whole = rows(0, 4, (i) => (i < 2 * T ? keepA(i) : keepB(i - 2 * T)));
const allMasked = rows(0, 2, () => false);

function gpt(backend: Backend | undefined): GPT {
  manualSeed(5);
  return new GPT(
    { family: 'gpt2', vocabSize, contextLength: T, nLayers: 1, nHeads: 2, dModel: 16 },
    { backend },
  );
}

function upload(
  input: LanguageModelBatchInput,
  backend: Backend | undefined,
): { ids: Tensor; targets: Tensor } {
  const t = (h: (typeof input)['ids']) =>
    'data' in h ? tensor(h.data, { dtype: h.dtype, shape: h.shape, backend }) : h;
  return { ids: t(input.ids), targets: t(input.targets) };
}

/** The reference: plain autograd over one batch (its mean loss over the valid targets). */
async function reference(backend: Backend | undefined, input: LanguageModelBatchInput) {
  const model = gpt(backend);
  const { ids, targets } = upload(input, backend);
  const loss = model.forward(ids, targets).loss!;
  backward(loss);
  const grads: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) grads[name] = Array.from(await p.grad!.data());
  const value = await loss.item();
  model.dispose();
  return { loss: value, grads };
}

async function step(
  backend: Backend | undefined,
  batches: BatchInput[],
  objective = languageModelObjective(),
) {
  const model = gpt(backend);
  const capture = new GradCapture(model.namedParameters());
  const out = trainStep(model, capture, batches, objective);
  const result = {
    loss: await out.loss.item(),
    weight: await out.weight.item(),
    gradNorm: await out.gradNorm.item(),
    grads: await capture.read(),
    shapes: [out.loss.shape, out.weight.shape, out.gradNorm.shape],
    leftGrads: model.parameters().filter((p) => p.grad !== null).length,
  };
  for (const t of [out.loss, out.weight, out.gradNorm]) t.dispose();
  capture.dispose();
  model.dispose();
  return result;
}

function expectClose(
  actual: Record<string, number[]>,
  expected: Record<string, number[]>,
  tol: number,
): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name];
    expect(got.length, name).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++)
      worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
    expect(worst, `${name}: worst relative error`).toBeLessThan(tol);
  }
}

// A toy preference model: score(x) = x · w; the loss is −log σ(score(chosen) − score(rejected))
// averaged over pairs, so the weight is the number of pairs.
const D = 3;
class PairScorer extends Module {
  w: Parameter;
  constructor(backend: Backend | undefined) {
    super();
    this.w = new Parameter(tensor([0.3, -0.2, 0.5], { backend }));
  }
}
const pairwise: Objective<PairScorer> = (model, batch) => {
  const { chosen, rejected } = batch;
  const pairs = chosen.shape[0];
  const margin = chosen
    .sub(rejected)
    .matmul(model.w.reshape([D, 1]))
    .reshape([pairs]);
  const loss = margin.neg().exp().add(1).log().mean();
  return { loss, weight: pairs, metrics: { accuracy: margin.gt(0).cast('float32').mean() } };
};
const pairData = [
  [0.5, 1.0, -0.3],
  [0.1, -0.7, 0.2],
  [-1.2, 0.4, 0.9],
  [0.3, 0.3, 0.3],
  [2.0, -1.0, 0.5],
  [-0.4, -0.6, 1.1],
  [0.8, 0.2, -0.9],
];
const pairRejected = pairData.map((row, i) => row.map((v, j) => v * 0.5 - 0.1 * ((i + j) % 3)));
function pairBatch(from: number, to: number): BatchInput {
  const flat = (m: number[][]) => Float32Array.from(m.slice(from, to).flat());
  return {
    chosen: hostTensor(flat(pairData), [to - from, D]),
    rejected: hostTensor(flat(pairRejected), [to - from, D]),
  };
}
/** By hand, in float64: the mean loss, its gradient in w and the accuracy over all 7 pairs. */
function pairReference() {
  const w = [0.3, -0.2, 0.5];
  let loss = 0;
  let correct = 0;
  const grad = [0, 0, 0];
  pairData.forEach((c, i) => {
    const diff = c.map((v, j) => Math.fround(v) - Math.fround(pairRejected[i][j]));
    const m = diff.reduce((s, d, j) => s + d * Math.fround(w[j]), 0);
    loss += Math.log(1 + Math.exp(-m));
    if (m > 0) correct++;
    const s = 1 / (1 + Math.exp(m)); // σ(−m)
    diff.forEach((d, j) => {
      grad[j] -= s * d;
    });
  });
  const n = pairData.length;
  return { loss: loss / n, grad: grad.map((g) => g / n), accuracy: correct / n };
}

const backends: [string, () => Backend | undefined, number][] = [
  ['cpu', () => undefined, 2e-5],
  ['webgpu', () => gpu, 1e-3],
];

for (const [name, backendOf, tol] of backends) {
  const skip = name === 'webgpu' && !gpu;
  describe.skipIf(skip)(`trainStep on ${name}${skip ? ` (skipped: ${skipReason})` : ''}`, () => {
    it('over micro-batches with 3 and 11 valid targets equals the step over one batch holding both', async () => {
      const backend = backendOf();
      const ref = await reference(backend, whole);
      const got = await step(backend, [microA, microB]);
      expect(got.weight).toBe(14);
      const error = Math.abs(got.loss - ref.loss);
      expect(error).toBeLessThan(tol * Math.abs(ref.loss));
      expectClose(got.grads, ref.grads, tol);
      expect(got.shapes).toEqual([[], [], []]);
      expect(got.leftGrads).toBe(0); // gradients are zeroed after the step
      // A plain mean of the two micro-batch losses (the counts are 3 and 11) is far further off.
      const [a, b] = [await reference(backend, microA), await reference(backend, microB)];
      expect(Math.abs((a.loss + b.loss) / 2 - ref.loss)).toBeGreaterThan(20 * Math.max(error, 1e-6));
    });

    it('gives the same step for a weight returned as a number or as a device tensor', async () => {
      const backend = backendOf();
      const lm = languageModelObjective();
      const counts = [3, 11];
      let call = 0;
      const numeric: Objective = (model, batch) => ({ ...lm(model, batch), weight: counts[call++ % 2] });
      const asTensor = await step(backend, [microA, microB]);
      const asNumber = await step(backend, [microA, microB], numeric);
      expect(asNumber).toEqual(asTensor);
    });

    it('lets an all-masked micro-batch contribute nothing (not NaN), first or last', async () => {
      const backend = backendOf();
      const ref = await reference(backend, microB);
      for (const batches of [
        [allMasked, microB],
        [microB, allMasked],
      ]) {
        const got = await step(backend, batches);
        expect(got.weight).toBe(11);
        expect(Math.abs(got.loss - ref.loss)).toBeLessThan(tol * Math.abs(ref.loss));
        expectClose(got.grads, ref.grads, tol);
      }
    });

    it('trains a custom pairwise objective with weight = pairs, matching gradients computed by hand', async () => {
      const backend = backendOf();
      const want = pairReference();
      for (const split of [[7], [2, 7], [5, 6, 7]]) {
        const model = new PairScorer(backend);
        const capture = new GradCapture(model.namedParameters());
        const batches = split.map((to, i) => pairBatch(i === 0 ? 0 : split[i - 1], to));
        const out = trainStep(model, capture, batches, pairwise);
        expect(await out.weight.item()).toBe(7);
        expect(Math.abs((await out.loss.item()) - want.loss)).toBeLessThan(1e-5);
        expect(Math.abs((await out.metrics.accuracy.item()) - want.accuracy)).toBeLessThan(1e-6);
        const grad = (await capture.read()).w;
        grad.forEach((g, j) => {
          expect(Math.abs(g - want.grad[j]), `split ${split} grad ${j}`).toBeLessThan(1e-5);
        });
        for (const t of [out.loss, out.weight, out.gradNorm, out.metrics.accuracy]) t.dispose();
        capture.dispose();
      }
    });
  });
}

describe('trainStep errors', () => {
  const model = () => new PairScorer(undefined);
  const run = (
    objective: Objective<PairScorer>,
    batches: BatchInput[] = [pairBatch(0, 2), pairBatch(2, 4)],
  ) => {
    const m = model();
    try {
      trainStep(m, new GradCapture(m.namedParameters()), batches, objective);
    } finally {
      // A failed step leaves no half-accumulated gradients behind.
      expect(m.parameters().every((p) => p.grad === null)).toBe(true);
    }
  };
  const ok = (m: PairScorer, b: Parameters<typeof pairwise>[1]) => pairwise(m, b);

  it('names what is wrong with the objective output', () => {
    expect(() => run(() => undefined as never)).toThrow(/must return \{ loss, weight, metrics\? \}/);
    expect(() => run((m, b) => ({ ...ok(m, b), loss: undefined as never }))).toThrow(
      /trainStep \(micro-batch 0\): the objective returned no loss tensor/,
    );
    expect(() => run((m, b) => ({ ...ok(m, b), loss: ok(m, b).loss.reshape([1]).expand([2]) }))).toThrow(
      /returned a loss of shape \[2\]; it must be 0-d/,
    );
    let call = 0;
    expect(() => run((m, b) => ({ ...ok(m, b), weight: call++ === 1 ? Number.NaN : 2 }))).toThrow(
      /trainStep \(micro-batch 1\): the objective's weight must be a finite number ≥ 0.*got NaN/,
    );
    expect(() => run((m, b) => ({ ...ok(m, b), weight: -1 }))).toThrow(/weight must be a finite number ≥ 0/);
    expect(() => run((m, b) => ({ ...ok(m, b), weight: tensor([1, 2]) }))).toThrow(
      /weight must be a number or a numeric 0-d tensor.*shape \[2\]/,
    );
    expect(() => run((m, b) => ({ ...ok(m, b), metrics: { accuracy: tensor([1, 2, 3]) } }))).toThrow(
      /metric 'accuracy' must be a number or a single-number tensor, got shape \[3\]/,
    );
    expect(() => run((m, b) => ({ ...ok(m, b), loss: ok(m, b).loss.gt(0) }))).toThrow(
      /loss must be float32 or float16, got bool/,
    );
  });

  it('names what is wrong with the batches', () => {
    expect(() => run(pairwise, [])).toThrow(/trainStep: no micro-batches; pass at least one batch/);
    expect(() =>
      run(pairwise, [{ chosen: { data: new Float32Array(5), shape: [2, 3], dtype: 'float32' } }]),
    ).toThrow(/batch entry 'chosen': shape \[2,3\] needs 6 values, the data has 5/);
    expect(() => run(pairwise, [{ chosen: [1, 2, 3] as never }])).toThrow(
      /entry 'chosen' must be a Tensor or a HostTensor \{ data, shape, dtype \}, got Array/,
    );
    expect(() => run(pairwise, [[] as never])).toThrow(/a batch must be a record of named tensors/);
    expect(() => hostTensor(new Int32Array(4), [2, 2], 'float32')).toThrow(
      /a Int32Array cannot hold dtype 'float32'; use 'int32'/,
    );
    expect(() => run(languageModelObjective() as never, [pairBatch(0, 2)])).toThrow(
      /languageModelObjective: the batch needs 'ids' and 'targets' \(int32 \[B, T\]\); it has chosen, rejected/,
    );
  });
});
