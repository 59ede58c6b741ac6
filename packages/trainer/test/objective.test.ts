// The default objective: how it calls the model (positional targets, or the options form when
// the batch has segments/positions/padding), what it adds (auxiliary losses), what it counts as
// the weight (targets that are not ignored, on the device) and what it reports as metrics; and
// evaluate() over batches with an objective, averaged by weight.
import { Module, noGrad, Parameter } from '@kiln/autograd';
import { init, type Tensor, tensor } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchInput,
  evaluate,
  hostTensor,
  IGNORE_INDEX,
  type LanguageModelForwardOptions,
  languageModelObjective,
  type ModelOutput,
  type Objective,
  uploadBatch,
} from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Records how forward was called and returns fixed outputs: loss 2, aux balance 0.25, metric usage 0.5. */
class StubModel extends Module {
  p = new Parameter(tensor([1]));
  calls: unknown[] = [];
  withAux = true;

  forward(ids: Tensor, second?: Tensor | LanguageModelForwardOptions): ModelOutput {
    this.calls.push(
      second instanceof Object && !('shape' in second) ? Object.keys(second).sort() : 'targets',
    );
    const loss = this.p.mul(2).sum();
    if (!this.withAux) return { loss, logits: ids.cast('float32') };
    return { loss, auxLosses: { balance: this.p.mul(0.25).sum() }, metrics: { usage: tensor(0.5) } };
  }
}

const int = (values: number[]) => hostTensor(Int32Array.from(values), [2, 2]);

describe('languageModelObjective', () => {
  it('calls forward(ids, targets) for a plain batch, and adds no auxiliary loss when there is none', async () => {
    const model = new StubModel();
    model.withAux = false;
    const batch = uploadBatch({ ids: int([1, 2, 3, 4]), targets: int([2, 3, -100, 5]) });
    const out = languageModelObjective()(model, batch);
    expect(model.calls).toEqual(['targets']);
    expect(await out.loss.item()).toBe(2);
    expect(out.loss.shape).toEqual([]);
    expect(await (out.weight as Tensor).item()).toBe(3); // one target is ignored
    expect(out.metrics).toEqual({});
  });

  it('calls forward(ids, { targets, segments, positions, padding }) when the batch has any of them', () => {
    const model = new StubModel();
    const objective = languageModelObjective();
    const base = { ids: int([1, 2, 3, 4]), targets: int([2, 3, 4, 5]) };
    objective(model, uploadBatch({ ...base, segments: int([0, 0, 0, 1]) }));
    objective(model, uploadBatch({ ...base, positions: int([0, 1, 0, 1]), extra: int([9, 9, 9, 9]) }));
    objective(
      model,
      uploadBatch({
        ...base,
        segments: int([0, 0, 1, 1]),
        positions: int([0, 1, 0, 1]),
        padding: hostTensor(Uint8Array.from([0, 0, 0, 1]), [2, 2]),
      }),
    );
    expect(model.calls).toEqual([
      ['segments', 'targets'],
      ['positions', 'targets'],
      ['padding', 'positions', 'segments', 'targets'],
    ]);
  });

  it('adds the auxiliary losses to the loss and reports them and the model metrics', async () => {
    const model = new StubModel();
    const out = languageModelObjective({ ignoreIndex: 0 })(
      model,
      uploadBatch({ ids: int([1, 2, 3, 4]), targets: int([0, 0, 7, 8]) }),
    );
    expect(await out.loss.item()).toBe(2.25);
    expect(await (out.weight as Tensor).item()).toBe(2); // targets equal to ignoreIndex 0 are not counted
    expect(Object.keys(out.metrics!).sort()).toEqual(['balance', 'usage']);
    expect(await (out.metrics!.balance as Tensor).item()).toBe(0.25);
    expect(IGNORE_INDEX).toBe(-100);
  });

  it('explains a model without a loss and a bad ignoreIndex', () => {
    const noLoss = new StubModel();
    noLoss.forward = () => ({ logits: tensor([1]) });
    expect(() =>
      languageModelObjective()(noLoss, uploadBatch({ ids: int([1, 2, 3, 4]), targets: int([1, 2, 3, 4]) })),
    ).toThrow(/StubModel\.forward\(ids, targets\) returned no loss/);
    expect(() => languageModelObjective({ ignoreIndex: 0.5 })).toThrow(
      /ignoreIndex must be an integer, got 0.5/,
    );
  });
});

// A regression model: loss = mean over rows of (x·w − y)²; weight = rows; metric: mean |error|.
class Linear1 extends Module {
  w = new Parameter(tensor([0.5, -1]));
}
const squaredError: Objective<Linear1> = (model, batch) => {
  const err = batch.x
    .matmul(model.w.reshape([2, 1]))
    .reshape([-1])
    .sub(batch.y);
  return { loss: err.square().mean(), weight: batch.y.shape[0], metrics: { mae: err.abs().mean() } };
};
const xs = [
  [1, 2],
  [0, 1],
  [3, -1],
  [2, 2],
  [-1, 0.5],
];
const ys = [0.1, -0.4, 2.5, -1, 0.3];
const rowsOf = (from: number, to: number): BatchInput => ({
  x: hostTensor(Float32Array.from(xs.slice(from, to).flat()), [to - from, 2]),
  y: hostTensor(Float32Array.from(ys.slice(from, to)), [to - from]),
});

describe('evaluate over batches', () => {
  it('averages the objective over every row, whatever the batch sizes', async () => {
    // By hand: the mean squared and absolute error over all five rows.
    const errors = xs.map(([a, b], i) => a * 0.5 - b - ys[i]);
    const mse = errors.reduce((s, e) => s + e * e, 0) / 5;
    const mae = errors.reduce((s, e) => s + Math.abs(e), 0) / 5;
    const model = new Linear1();
    for (const split of [[5], [1, 5], [2, 3, 5]]) {
      const batches = split.map((to, i) => rowsOf(i === 0 ? 0 : split[i - 1], to));
      const result = await evaluate(model, batches, { objective: squaredError });
      expect(result.loss).toBeCloseTo(mse, 5);
      expect(result.metrics.mae).toBeCloseTo(mae, 5);
      expect(result.weight).toBe(5);
      expect(result.tokens).toBe(0); // the batches have no ids
    }
    expect(model.training).toBe(true);
  });

  it('explains options that do not apply and batches with nothing to average', async () => {
    const model = new Linear1();
    await expect(evaluate(model, [rowsOf(0, 2)], { objective: squaredError, batchSize: 4 })).rejects.toThrow(
      /batchSize and maxWindows apply to a TokenDataset/,
    );
    await expect(evaluate(model, [], { objective: squaredError })).rejects.toThrow(
      /there are no batches to evaluate/,
    );
    const weightless: Objective<Linear1> = (m, b) => ({ ...squaredError(m, b), weight: 0 });
    await expect(evaluate(model, [rowsOf(0, 2)], { objective: weightless })).rejects.toThrow(
      /total weight of 0 \(every target is ignored\)/,
    );
    // Nothing was left on the tape or in the gradients.
    expect(noGrad(() => model.w.grad)).toBeNull();
  });
});
