/**
 * Memory: 1000 forward/backward steps of a small MLP must leave the live-tensor count, the
 * backend's allocated and pooled bytes, and the graph's saved tensors flat.
 */
import * as T from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphStats, sweepAmbient } from '../src/graph.js';
import { backward, Module, noGrad, Parameter, valueAndGrad } from '../src/index.js';
import { initCpu, tryWebgpu } from './helpers.js';

const webgpu = await tryWebgpu();
beforeAll(initCpu);

class Mlp extends Module {
  w1: Parameter;
  b1: Parameter;
  w2: Parameter;
  b2: Parameter;
  constructor(backend: T.Backend) {
    super();
    T.manualSeed(3);
    const make = (t: () => T.Tensor) => T.scope(() => new Parameter(t()));
    this.w1 = make(() => T.randn([8, 16], { backend }).mul(0.3));
    this.b1 = make(() => T.zeros([16], { backend }));
    this.w2 = make(() => T.randn([16, 4], { backend }).mul(0.3));
    this.b2 = make(() => T.zeros([4], { backend }));
  }
  loss(x: T.Tensor, y: T.Tensor): T.Tensor {
    const h = x.matmul(this.w1).add(this.b1).tanh();
    return T.crossEntropy(h.matmul(this.w2).add(this.b2), y);
  }
}

interface Snapshot {
  liveTensors: number;
  allocatedBytes: number;
  pooledBytes: number;
  savedTensors: number;
}

function snapshot(backend: T.Backend): Snapshot {
  const m = T.memory();
  const b = backend.memory();
  return {
    liveTensors: m.liveTensors,
    allocatedBytes: b.allocatedBytes,
    pooledBytes: b.pooledBytes,
    savedTensors: graphStats().savedTensors,
  };
}

/** Runs `steps` SGD steps with one of the two APIs; returns snapshots at step 100 and the end, and the first/last loss. */
async function train(backend: T.Backend, style: 'backward' | 'valueAndGrad', steps: number) {
  const model = new Mlp(backend);
  T.manualSeed(11);
  const x = T.randn([8, 8], { backend });
  const y = T.tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'int32', backend });
  const lr = 0.5;
  const step = (): T.Tensor =>
    T.scope(() => {
      let loss: T.Tensor;
      if (style === 'backward') {
        loss = model.loss(x, y);
        backward(loss);
        noGrad(() => {
          for (const p of model.parameters()) p.assign(p.sub(p.grad!.mul(lr)));
        });
        model.zeroGrad();
      } else {
        const [value, grads] = valueAndGrad((m: Mlp) => m.loss(x, y))(model);
        loss = value;
        noGrad(() => {
          for (const [name, p] of model.namedParameters()) p.assign(p.sub(grads[name].mul(lr)));
        });
      }
      return loss;
    });
  let first = 0;
  let last = 0;
  let at100: Snapshot | null = null;
  const started = performance.now();
  for (let i = 1; i <= steps; i++) {
    const loss = step();
    if (i === 1) first = await loss.item();
    if (i === steps) last = await loss.item();
    loss.dispose();
    if (i % 100 === 0) await backend.sync();
    if (i === 100) at100 = snapshot(backend);
  }
  const seconds = (performance.now() - started) / 1000;
  const end = snapshot(backend);
  model.dispose();
  x.dispose();
  y.dispose();
  return { at100: at100!, end, first, last, seconds };
}

describe('1000 training steps leave memory flat (cpu)', () => {
  for (const style of ['backward', 'valueAndGrad'] as const) {
    test(style, async () => {
      const backend = await T.initBackend('cpu');
      const r = await train(backend, style, 1000);
      expect(r.end).toEqual(r.at100);
      expect(r.last).toBeLessThan(r.first * 0.5); // and it learned
    });
  }
});

describe('forward passes that are never differentiated', () => {
  test('are swept once their outputs are disposed', async () => {
    const backend = await T.initBackend('cpu');
    const model = new Mlp(backend);
    const x = T.randn([8, 8], { backend });
    const y = T.tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'int32', backend });
    const before = T.memory().liveTensors;
    let peak = 0;
    for (let i = 0; i < 3000; i++) {
      T.scope(() => model.loss(x, y)).dispose(); // grad mode on, no backward: an evaluation that forgot noGrad
      peak = Math.max(peak, graphStats().savedTensors);
    }
    // bounded by the sweep threshold (a few thousand nodes), not by the number of passes
    expect(peak).toBeLessThan(3 * 4096);
    sweepAmbient();
    expect(graphStats().savedTensors).toBe(0);
    expect(T.memory().liveTensors).toBe(before);
    model.dispose();
    x.dispose();
    y.dispose();
  });
});

describe.skipIf(!webgpu)('1000 training steps leave memory flat (webgpu)', () => {
  afterAll(async () => webgpu?.sync());
  test('backward', async () => {
    const r = await train(webgpu!, 'backward', 1000);
    console.log(`webgpu: 1000 steps in ${r.seconds.toFixed(1)} s`);
    expect(r.end).toEqual(r.at100);
    expect(r.last).toBeLessThan(r.first * 0.5);
  });
});
