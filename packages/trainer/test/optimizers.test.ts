// AdamW and SGD replayed against PyTorch 1.13 (fixtures/optimizer-golden.json, written by
// scripts/reference/optimizer_golden.py): same initial values, gradients and per-step rates.
import { readFileSync } from 'node:fs';
import { noGrad, Parameter } from '@kiln/autograd';
import { init, tensor } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, defaultParamGroups, isEmbeddingName, type Optimizer, SGD } from '../src/index.js';
import { TinyLM } from './helpers/tiny-lm.js';

interface GoldenCase {
  name: string;
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  lrs: number[];
  steps: { params: Record<string, number[]>; state: Record<string, number[]> }[];
  options: { betas?: [number, number]; eps?: number; momentum?: number; nesterov?: boolean };
  weightDecay: Record<string, number>;
}

const golden = JSON.parse(
  readFileSync(new URL('./fixtures/optimizer-golden.json', import.meta.url), 'utf8'),
) as {
  optimizers: GoldenCase[];
};

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

function expectClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  what: string,
  tolerance = 2e-6,
): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (error > tolerance)
      throw new Error(
        `${what}[${i}]: got ${actual[i]}, torch ${expected[i]} (relative error ${error.toExponential(2)})`,
      );
  }
}

function setup(c: GoldenCase): { params: Record<string, Parameter>; optimizer: Optimizer } {
  const params = Object.fromEntries(
    Object.entries(c.init).map(([k, v]) => [k, new Parameter(tensor(v, { shape: c.shapes[k] }))]),
  );
  const groups = ['weight', 'bias'].map((k) => ({
    params: [[k, params[k]] as const],
    weightDecay: c.weightDecay[k],
  }));
  const optimizer =
    c.name === 'adamw'
      ? new AdamW(groups, { lr: c.lrs[0], ...c.options })
      : new SGD(groups, { lr: c.lrs[0], ...c.options });
  return { params, optimizer };
}

describe('optimizers match PyTorch 1.13 step by step', () => {
  for (const c of golden.optimizers) {
    it(`${c.name}: 3 steps with a new learning rate each step`, async () => {
      const { params, optimizer } = setup(c);
      for (let step = 0; step < c.steps.length; step++) {
        for (const [k, p] of Object.entries(params))
          p.grad = tensor(c.grads[step][k], { shape: c.shapes[k] });
        optimizer.lr = c.lrs[step];
        optimizer.step();
        optimizer.zeroGrad();
        for (const [k, p] of Object.entries(params))
          expectClose(await p.data(), c.steps[step].params[k], `${c.name} step ${step + 1} ${k}`);
        const state = optimizer.stateDict();
        expect(state.step).toBe(step + 1);
        for (const [key, expected] of Object.entries(c.steps[step].state)) {
          expectClose(await state.tensors[key].data(), expected, `${c.name} step ${step + 1} ${key}`);
        }
        expect(Object.keys(state.tensors).sort()).toEqual(Object.keys(c.steps[step].state).sort());
      }
      optimizer.dispose();
      for (const p of Object.values(params)) p.dispose();
    });
  }
});

describe('optimizer state dicts', () => {
  it('a restored AdamW continues exactly like the original', async () => {
    const c = golden.optimizers.find((g) => g.name === 'adamw')!;
    const a = setup(c);
    const b = setup(c);
    const feed = (params: Record<string, Parameter>, step: number) => {
      for (const [k, p] of Object.entries(params)) p.grad = tensor(c.grads[step][k], { shape: c.shapes[k] });
    };
    feed(a.params, 0);
    a.optimizer.step();
    // Copy a's weights and state into b, then take the same next step on both.
    noGrad(() => {
      for (const k of Object.keys(a.params)) b.params[k].assign(a.params[k]);
    });
    b.optimizer.loadStateDict(a.optimizer.stateDict());
    expect(b.optimizer.stepCount).toBe(1);
    for (const [opt, params] of [
      [a.optimizer, a.params],
      [b.optimizer, b.params],
    ] as const) {
      feed(params, 1);
      opt.lr = c.lrs[1];
      opt.step();
    }
    for (const k of Object.keys(a.params))
      expect(Array.from(await b.params[k].data())).toEqual(Array.from(await a.params[k].data()));
  });

  it('rejects state from another optimizer or for unknown parameters', () => {
    const p = new Parameter(tensor([1, 2]));
    const adam = new AdamW([['w', p]]);
    const sgd = new SGD([['w', p]], { momentum: 0.9 });
    expect(() => adam.loadStateDict(sgd.stateDict())).toThrow(/saved by optimizer 'sgd', not 'adamw'/);
    const foreign = { kind: 'adamw', step: 1, hyperparameters: {}, tensors: { 'v.exp_avg': tensor([0, 0]) } };
    expect(() => adam.loadStateDict(foreign)).toThrow(/'v.exp_avg' belongs to no parameter/);
    const misShaped = {
      kind: 'adamw',
      step: 1,
      hyperparameters: {},
      tensors: { 'w.exp_avg': tensor([0, 0, 0]) },
    };
    expect(() => adam.loadStateDict(misShaped)).toThrow(/has shape \[3\] but the parameter is \[2\]/);
  });
});

describe('Optimizer.step({ skipIf }): a step skipped on the device', () => {
  for (const kind of ['sgd', 'adamw'] as const) {
    it(`${kind}: a skipped step changes nothing, then the run equals one without it`, async () => {
      const make = () => {
        const p = new Parameter(tensor([0.5, -1, 2, 0.25]));
        p.grad = tensor([0.1, -0.2, 0.3, 0.05]);
        const named: [string, Parameter][] = [['w', p]];
        const opt: Optimizer =
          kind === 'sgd'
            ? new SGD(named, { lr: 0.1, momentum: 0.9, weightDecay: 0.1 })
            : new AdamW(named, { lr: 0.1, weightDecay: 0.1 });
        return { p, opt };
      };
      const flag = (v: number) => tensor(v, { dtype: 'float32' });
      const skipped = make();
      skipped.opt.step({ skipIf: flag(1) });
      expect(Array.from(await skipped.p.data())).toEqual([0.5, -1, 2, 0.25]);
      expect(() => skipped.opt.stateDict()).toThrow(/await syncStepCount\(\) first/);
      expect(await skipped.opt.syncStepCount()).toBe(0);
      for (const t of Object.values(skipped.opt.stateDict().tensors))
        expect(Array.from(await t.data()).every((x) => x === 0)).toBe(true);
      skipped.opt.step({ skipIf: flag(0) });
      skipped.opt.step({ skipIf: flag(0) });
      const plain = make();
      plain.opt.step();
      plain.opt.step();
      expect(await skipped.opt.syncStepCount()).toBe(2);
      expect(Array.from(await skipped.p.data())).toEqual(Array.from(await plain.p.data()));
      const [a, b] = [skipped.opt.stateDict().tensors, plain.opt.stateDict().tensors];
      for (const k of Object.keys(b))
        expect(Array.from(await a[k].data())).toEqual(Array.from(await b[k].data()));
    });
  }
});

describe('optimizer inputs', () => {
  it('accepts bare parameters, named parameters and groups, and rejects duplicates', () => {
    const a = new Parameter(tensor([1]));
    const b = new Parameter(tensor([2]));
    expect(new SGD([a, b]).namedParameters().map(([n]) => n)).toEqual(['param.0', 'param.1']);
    expect(new SGD([['x', a]]).namedParameters()[0][0]).toBe('x');
    expect(() => new SGD([a, a])).toThrow(/listed twice/);
    expect(
      () =>
        new SGD([
          ['x', a],
          ['x', b],
        ]),
    ).toThrow(/two parameters are named 'x'/);
    expect(() => new SGD([])).toThrow(/no parameters/);
    expect(() => new AdamW([a], { betas: [0.9, 1] })).toThrow(/betas/);
    expect(() => new SGD([a], { nesterov: true })).toThrow(/nesterov/);
    const opt = new AdamW([a]);
    expect(() => {
      opt.lr = Number.NaN;
    }).toThrow(/learning rate/);
  });

  it('skips parameters without a gradient', async () => {
    const a = new Parameter(tensor([1, 2]));
    const opt = new AdamW([a], { lr: 0.1 });
    opt.step();
    expect(Array.from(await a.data())).toEqual([1, 2]);
    expect(opt.stateDict().tensors).toEqual({});
  });

  it('defaultParamGroups decays matrices but not biases, norms or embeddings', () => {
    const model = new TinyLM(8);
    const groups = defaultParamGroups(model, { weightDecay: 0.1 });
    const names = groups.map((g) => ({
      wd: g.weightDecay,
      names: g.params.map((p) => (p as readonly [string, Parameter])[0]),
    }));
    expect(names).toEqual([
      { wd: 0.1, names: ['hidden', 'head'] },
      { wd: 0, names: ['embedding', 'hiddenBias'] },
    ]);
    const all = defaultParamGroups(model, { weightDecay: 0.1, decayEmbeddings: true });
    expect(all[0].params.map((p) => (p as readonly [string, Parameter])[0])).toEqual([
      'embedding',
      'hidden',
      'head',
    ]);
    for (const name of [
      'tokenEmbedding.weight',
      'positionEmbedding.weight',
      'transformer.wte.weight',
      'model.embed_tokens.weight',
    ]) {
      expect(isEmbeddingName(name), name).toBe(true);
    }
    expect(isEmbeddingName('blocks.0.mlp.fc.weight')).toBe(false);
  });
});
