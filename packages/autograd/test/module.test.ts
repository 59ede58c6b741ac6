/** Module: registration by property name, state dicts, modes, conversion and disposal. */
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { backward, Module, Parameter, StateDictError } from '../src/index.js';
import { initCpu } from './helpers.js';

beforeAll(initCpu);

class Linear extends Module {
  weight: Parameter;
  bias: Parameter;
  constructor(inputs: number, outputs: number) {
    super();
    this.weight = T.scope(() => new Parameter(T.randn([inputs, outputs]).mul(0.5)));
    this.bias = new Parameter(T.zeros([outputs]));
  }
  forward(x: T.Tensor): T.Tensor {
    return x.matmul(this.weight).add(this.bias);
  }
}

class Net extends Module {
  embed = new Parameter(T.randn([5, 3]));
  layers = [new Linear(3, 4), new Linear(4, 3)];
  head: Linear;
  note = 'not a parameter';
  constructor() {
    super();
    this.head = new Linear(3, 5);
    this.head.weight.dispose();
    this.head.weight = this.embed; // tied, stored as [5,3] under both names
  }
}

describe('Module', () => {
  test('registers parameters and submodules by property name', () => {
    const net = new Net();
    expect(net.namedModules().map(([n]) => n)).toEqual(['', 'layers.0', 'layers.1', 'head']);
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'embed',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'layers.1.bias',
      'head.bias',
    ]);
    expect(Object.keys(net.stateDict())).toEqual([
      'embed',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'layers.1.bias',
      'head.weight',
      'head.bias',
    ]);
    expect(net.parameters().length).toBe(6);
    expect(net.numParameters()).toBe(15 + 12 + 4 + 12 + 3 + 5);
    net.dispose();
  });

  test('loadStateDict copies in place and casts; a wrong shape names the key and both shapes', async () => {
    const a = new Linear(2, 3);
    const b = new Linear(2, 3);
    const w = b.weight;
    b.loadStateDict(a.stateDict());
    expect(b.weight).toBe(w); // same Parameter object, new values
    expect(Array.from(await b.weight.data())).toEqual(Array.from(await a.weight.data()));

    const wrong = { weight: T.zeros([3, 2]), bias: T.zeros([3]) };
    expect(() => b.loadStateDict(wrong)).toThrow(StateDictError);
    expect(() => b.loadStateDict(wrong)).toThrow(/weight: module has \[2,3\], state dict has \[3,2\]/);
    a.dispose();
    b.dispose();
  });

  test('loadStateDict lists missing and unexpected keys; strict: false ignores them', async () => {
    const m = new Linear(2, 2);
    const dict = { weight: T.ones([2, 2]), extra: T.zeros([1]) };
    let error: StateDictError | undefined;
    try {
      m.loadStateDict(dict);
    } catch (e) {
      error = e as StateDictError;
    }
    expect(error?.message).toMatch(/missing keys \(1\): bias/);
    expect(error?.message).toMatch(/unexpected keys \(1\): extra/);
    expect(error?.mismatch.missingKeys).toEqual(['bias']);
    const result = m.loadStateDict(new Map(Object.entries(dict)), { strict: false });
    expect(result.unexpectedKeys).toEqual(['extra']);
    expect(Array.from(await m.weight.data())).toEqual([1, 1, 1, 1]);
    m.dispose();
  });

  test('train/eval set the mode recursively; zeroGrad clears every gradient', () => {
    const net = new Net();
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect(net.layers[1].training).toBe(true);
    const x = T.randn([2, 3]);
    const h = net.layers[1].forward(net.layers[0].forward(x));
    backward(h.matmul(net.embed.T).add(net.head.bias).sum());
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    net.dispose();
  });

  test('to(dtype) converts every parameter, keeping names, ties and requiresGrad', () => {
    const net = new Net();
    net.layers[0].bias.requiresGrad = false;
    net.to('float16');
    expect(net.parameters().every((p) => p.dtype === 'float16')).toBe(true);
    expect(net.head.weight).toBe(net.embed);
    expect(net.layers[0].bias.requiresGrad).toBe(false);
    expect(net.layers[0].weight.requiresGrad).toBe(true);
    net.dispose();
  });

  test('replaceParameters swaps slots (ties kept), leaves the originals valid, and swaps back', () => {
    const net = new Net();
    const embed = net.embed;
    const w0 = net.layers[0].weight;
    const copy = new Parameter(T.zerosLike(embed));
    const copyW0 = new Parameter(T.zerosLike(w0));
    net.replaceParameters(
      new Map([
        [embed, copy],
        [w0, copyW0],
      ]),
    );
    expect(net.embed).toBe(copy);
    expect(net.head.weight).toBe(copy); // the tie follows
    expect(net.layers[0].weight).toBe(copyW0);
    expect(net.parameters()).not.toContain(embed);
    expect(embed.isDisposed).toBe(false);
    net.replaceParameters(
      new Map([
        [copy, embed],
        [copyW0, w0],
      ]),
    );
    expect(net.head.weight).toBe(embed);
    expect(net.layers[0].weight).toBe(w0);
    const bad = new Parameter(T.zeros([1]));
    expect(() =>
      net.replaceParameters(
        new Map([
          [w0, copyW0],
          [embed, bad],
        ]),
      ),
    ).toThrow(/replacement of 'embed' must be a Parameter of shape \[\d+,\d+\], got \[1\]/);
    expect(net.layers[0].weight).toBe(w0); // nothing changed
    for (const p of [copy, copyW0, bad]) p.dispose();
    net.dispose();
  });

  test('dispose releases every parameter and gradient', () => {
    const before = T.memory().liveTensors;
    T.scope(() => {
      const net = new Net();
      backward(net.layers[0].forward(T.ones([1, 3])).sum());
      net.dispose();
    });
    expect(T.memory().liveTensors).toBe(before);
  });
});
