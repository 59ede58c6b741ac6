/**
 * LoRA: the layer equals an explicit `act(x (W + s·B·A)ᵀ + b)` computed in float64 on the host
 * (α/r and rsLoRA's α/√r, with and without an activation after it, on fused q/k/v row blocks);
 * gradients reach A and B only and match host finite differences; a whole model with adapters
 * equals a copy whose weights were merged by hand; mergeLoRA is equivalent; targets, freezing,
 * seeds and errors. On cpu, and on webgpu where an adapter exists.
 */
import { backward, noGrad } from '@kiln/autograd';
import { type Backend, getRngState, manualSeed, memory, scope, type Tensor, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import {
  applyLoRA,
  GPT,
  type GPTConfig,
  hasLoRA,
  Linear,
  LoRAAdapter,
  LoRALinear,
  loraParameters,
  mergeLoRA,
  trainableParameters,
  unloadLoRA,
} from '../src/index.js';
import { ids, initCpu, maxAbsDiff, randomTokens, tryWebgpu } from './helpers.js';
import {
  type Activation,
  act,
  explicitMerge,
  host,
  matmul,
  randomizeB,
  referenceForward,
  transpose,
  uniform,
} from './lora-reference.js';

const cpu = await initCpu();
const webgpu = await tryWebgpu();
const backends: [string, Backend][] = [
  ['cpu', cpu],
  ...(webgpu ? [['webgpu', webgpu] as [string, Backend]] : []),
];
/** webgpu's float32 kernels (tiled sums, fast exp/tanh) round differently from the cpu's. */
const tol = (name: string, cpuTol: number) => (name === 'cpu' ? cpuTol : cpuTol * 20);

const tiny = (family: 'gpt2' | 'llama', extra: Partial<GPTConfig> = {}): GPTConfig => ({
  family,
  vocabSize: 40,
  contextLength: 16,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: family === 'llama' ? 2 : undefined,
  dModel: 16,
  ...extra,
});

function hostTensor(values: ArrayLike<number>, shape: number[], backend: Backend): Tensor {
  return tensor(Float32Array.from(values), { shape, backend });
}

/** A [out, in] linear layer (bias on) with two adapters on row blocks, as Llama's q and v of a fused qkv. */
function fusedLayer(backend: Backend, scale: number, dropout = 0): LoRALinear {
  manualSeed(5);
  const base = new Linear(6, 12, { backend });
  noGrad(() => {
    const b = hostTensor(Array.from({ length: 12 }, uniform(9, 0.5)), [12], backend);
    base.bias!.assign(b);
    b.dispose();
  });
  const adapter = (rows: [number, number]) => new LoRAAdapter(6, rows, { rank: 2, scale, dropout, backend });
  return new LoRALinear(
    base,
    new Map([
      ['v', adapter([8, 12])],
      ['q', adapter([0, 4])],
    ]),
  );
}

describe.each(backends)('LoRALinear on %s', (name, backend) => {
  for (const activation of ['none', 'geluTanh', 'silu'] as const) {
    test(`equals act(x (W + s·B·A)ᵀ + b) on its row blocks (${activation})`, async () => {
      const scale = 16 / 2;
      const layer = fusedLayer(backend, scale);
      randomizeB(layer, uniform(3, 0.3));
      const xs = Array.from({ length: 2 * 3 * 6 }, uniform(4));
      const x = hostTensor(xs, [2, 3, 6], backend);
      const y = noGrad(() => layer.forward(x, activation));
      expect(y.shape).toEqual([2, 3, 12]);
      const want = await referenceForward(layer, xs, 6, activation, scale);
      expect(maxAbsDiff(await y.data(), want)).toBeLessThan(tol(name, 2e-5));
      // the rows without an adapter are the base layer's
      const base = noGrad(() => Linear.prototype.forward.call(layer, x, activation));
      const got = await y.data();
      const plain = await base.data();
      for (let i = 0; i < 6; i++)
        for (const j of [4, 5, 6, 7]) expect(got[i * 12 + j]).toBeCloseTo(plain[i * 12 + j], 5);
      for (const t of [x, y, base]) t.dispose();
      layer.dispose();
    });
  }

  test('gradients reach A and B only and match host finite differences', async () => {
    const scale = 4 / Math.sqrt(2); // rsLoRA-style scale: the layer takes any
    const layer = fusedLayer(backend, scale);
    randomizeB(layer, uniform(7, 0.3));
    layer.weight.requiresGrad = false;
    layer.bias!.requiresGrad = false;
    const m = 5;
    const xs = Array.from({ length: m * 6 }, uniform(8));
    const gs = Array.from({ length: m * 12 }, uniform(10));
    const activation: Activation = 'geluTanh';
    const x = hostTensor(xs, [m, 6], backend);
    const G = hostTensor(gs, [m, 12], backend);
    const loss = scope(() => layer.forward(x, activation).mul(G).sum());
    backward(loss);
    expect(layer.weight.grad).toBeNull();
    expect(layer.bias!.grad).toBeNull();

    // host loss L = Σ act(x (W + s·B·A)ᵀ + b) · G as a function of one adapter matrix
    const W = await host(layer.weight);
    const bias = await host(layer.bias!);
    const adapters = await Promise.all(
      layer.adapters().map(async ([, a]) => ({ A: await host(a.A), B: await host(a.B), rows: a.rows })),
    );
    const hostLoss = () => {
      const merged = Float64Array.from(W);
      for (const { A, B, rows } of adapters) {
        const n = rows[1] - rows[0];
        const BA = matmul(B, A, n, 2, 6);
        for (let i = 0; i < n * 6; i++) merged[rows[0] * 6 + i] += scale * BA[i];
      }
      const y = matmul(xs, transpose(merged, 12, 6), m, 6, 12);
      let total = 0;
      for (let i = 0; i < m * 12; i++) total += act(y[i] + bias[i % 12], activation) * gs[i];
      return total;
    };
    const eps = 1e-5;
    for (const [k, [, a]] of layer.adapters().entries()) {
      for (const matrix of ['A', 'B'] as const) {
        const values = adapters[k][matrix];
        const analytic = await a[matrix].grad!.data();
        for (let i = 0; i < values.length; i++) {
          const keep = values[i];
          values[i] = keep + eps;
          const up = hostLoss();
          values[i] = keep - eps;
          const down = hostLoss();
          values[i] = keep;
          const numeric = (up - down) / (2 * eps);
          expect(Math.abs(analytic[i] - numeric), `${matrix}[${i}]`).toBeLessThan(
            tol(name, 2e-4) * (1 + Math.abs(numeric)),
          );
        }
      }
    }
    for (const t of [x, G, loss]) t.dispose();
    layer.dispose();
  });

  test('dropout acts on the adapter input only, in training mode only', async () => {
    const layer = fusedLayer(backend, 2, 0.5);
    const xs = Array.from({ length: 4 * 6 }, uniform(11));
    const x = hostTensor(xs, [4, 6], backend);
    // B = 0: whatever the mask, the output is the base layer's
    const fresh = noGrad(() => layer.forward(x));
    const base = noGrad(() => Linear.prototype.forward.call(layer, x));
    expect(maxAbsDiff(await fresh.data(), await base.data())).toBe(0);
    randomizeB(layer, uniform(12, 0.5));
    manualSeed(1);
    const a = noGrad(() => layer.forward(x));
    manualSeed(2);
    const b = noGrad(() => layer.forward(x));
    expect(maxAbsDiff(await a.data(), await b.data())).toBeGreaterThan(1e-3);
    layer.eval();
    const evaluated = noGrad(() => layer.forward(x));
    const want = await referenceForward(layer, xs, 4, 'none', 2);
    expect(maxAbsDiff(await evaluated.data(), want)).toBeLessThan(tol(name, 2e-5));
    for (const t of [x, fresh, base, a, b, evaluated]) t.dispose();
    layer.dispose();
  });

  for (const family of ['gpt2', 'llama'] as const) {
    for (const rsLoRA of [false, true]) {
      test(`${family}${rsLoRA ? ' rsLoRA' : ''}: a model with adapters equals W + s·B·A merged by hand, and mergeLoRA equals both`, async () => {
        const config = tiny(family);
        manualSeed(0);
        const model = new GPT(config, { backend });
        manualSeed(0);
        const reference = new GPT(config, { backend });
        const names = model.namedParameters().map(([n]) => n);
        const input = ids([randomTokens(8, 40, 1), randomTokens(8, 40, 2)], backend);
        const logits = async (m: GPT) => {
          const out = noGrad(() => m.forward(input).logits);
          const data = await out.data();
          out.dispose();
          return data;
        };
        const before = await logits(model);
        const rank = 4;
        const alpha = 8;
        const info = applyLoRA(model, { rank, alpha, rsLoRA, targets: 'all-linear', seed: 3 });
        const scale = rsLoRA ? alpha / Math.sqrt(rank) : alpha / rank;
        expect(info.scale).toBeCloseTo(scale, 12);
        // B = 0: the adapted model computes the base model
        expect(maxAbsDiff(await logits(model), before)).toBeLessThan(tol(name, 1e-5));
        randomizeB(model, uniform(4, 0.2));
        await explicitMerge(model, reference, scale);
        const adapted = await logits(model);
        const want = await logits(reference);
        expect(maxAbsDiff(adapted, before)).toBeGreaterThan(1e-2); // the adapters do something
        expect(maxAbsDiff(adapted, want)).toBeLessThan(tol(name, 1e-4));

        expect(mergeLoRA(model)).toBe(info.adapters.length);
        expect(hasLoRA(model)).toBe(false);
        expect(model.namedModules().some(([, m]) => m instanceof LoRALinear)).toBe(false);
        expect(model.namedParameters().map(([n]) => n)).toEqual(names);
        expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
        expect(maxAbsDiff(await logits(model), adapted)).toBeLessThan(tol(name, 1e-4));
        const refWeights = new Map(reference.namedParameters());
        for (const [n, p] of model.namedParameters())
          expect(maxAbsDiff(await p.data(), await refWeights.get(n)!.data()), n).toBeLessThan(1e-5);
        input.dispose();
        model.dispose();
        reference.dispose();
      });
    }
  }

  test('a training step gives gradients to the adapters alone and leaks nothing', async () => {
    manualSeed(1);
    const model = new GPT(tiny('llama', { dropout: 0.1 }), { backend });
    applyLoRA(model, { rank: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v', 'down'] });
    const input = ids([randomTokens(8, 40, 3)], backend);
    const targets = ids([randomTokens(8, 40, 4)], backend);
    const adapters = new Set(loraParameters(model).map(([, p]) => p));
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      const { logits, loss } = model.forward(input, targets);
      backward(loss!);
      loss!.dispose();
      logits.dispose();
      for (const [n, p] of model.namedParameters()) {
        if (adapters.has(p)) expect(p.grad, n).not.toBeNull();
        else expect(p.grad, n).toBeNull();
      }
      model.zeroGrad();
      counts.push(memory().liveTensors);
    }
    expect(counts[2]).toBe(counts[1]);
    input.dispose();
    targets.dispose();
    model.dispose();
  });
});

describe('generation', () => {
  test('a LoRA model generates (KV cache) what its merged model generates', async () => {
    manualSeed(0);
    const model = new GPT(tiny('llama', { dropout: 0.1 }));
    applyLoRA(model, { rank: 4, alpha: 16, dropout: 0.2, targets: 'all-linear', seed: 1 });
    randomizeB(model, uniform(6, 0.5));
    const prompt = randomTokens(4, 40, 9);
    const run = async () => {
      const out: number[] = [];
      for await (const id of model.generate(prompt, { maxTokens: 8, temperature: 0 })) out.push(id);
      return out;
    };
    const adapted = await run();
    mergeLoRA(model);
    expect(await run()).toEqual(adapted);
    model.dispose();
  });
});

describe('applyLoRA targets and bookkeeping', () => {
  test('gpt2 all-linear wraps qkv, o, fc and proj of every block, never the head; counts are r·(in + out) per adapter', () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    const total = model.numParameters();
    const info = applyLoRA(model, { rank: 4, alpha: 8, targets: 'all-linear' });
    const { dModel: d, dFF } = model.config;
    expect(info.wrapped).toEqual([
      'blocks.0.attn.qkv',
      'blocks.0.attn.o',
      'blocks.0.mlp.fc',
      'blocks.0.mlp.proj',
      'blocks.1.attn.qkv',
      'blocks.1.attn.o',
      'blocks.1.mlp.fc',
      'blocks.1.mlp.proj',
    ]);
    expect(info.adapters.map((a) => a.hfModule).slice(0, 4)).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.0.attn.c_proj',
      'transformer.h.0.mlp.c_fc',
      'transformer.h.0.mlp.c_proj',
    ]);
    const perBlock = 4 * (d + 3 * d) + 4 * (d + d) + 4 * (d + dFF) + 4 * (dFF + d);
    expect(info.trainableParams).toBe(2 * perBlock);
    expect(info.totalParams).toBe(total + 2 * perBlock);
    expect(model.head).not.toBeInstanceOf(LoRALinear);
    expect(trainableParameters(model).map(([n]) => n)).toEqual(loraParameters(model).map(([n]) => n));
    expect(loraParameters(model)[0][0]).toBe('blocks.0.attn.qkv.lora.qkv.A');
    model.dispose();
  });

  test('llama: q and v are row blocks of the fused qkv; qkv means all three; HF names work', () => {
    const { nHeads, nKvHeads, dModel } = { nHeads: 4, nKvHeads: 2, dModel: 16 };
    const hd = dModel / nHeads;
    for (const targets of [
      ['q', 'v'],
      ['q_proj', 'v_proj'],
    ]) {
      manualSeed(0);
      const model = new GPT(tiny('llama'));
      const info = applyLoRA(model, { rank: 2, alpha: 2, targets });
      expect(info.wrapped).toEqual(['blocks.0.attn.qkv', 'blocks.1.attn.qkv']);
      expect(info.adapters.slice(0, 2)).toEqual([
        {
          layer: 'blocks.0.attn.qkv',
          target: 'q',
          hfModule: 'model.layers.0.self_attn.q_proj',
          rows: [0, nHeads * hd],
        },
        {
          layer: 'blocks.0.attn.qkv',
          target: 'v',
          hfModule: 'model.layers.0.self_attn.v_proj',
          rows: [(nHeads + nKvHeads) * hd, (nHeads + 2 * nKvHeads) * hd],
        },
      ]);
      expect(info.trainableParams).toBe(2 * (2 * (dModel + nHeads * hd) + 2 * (dModel + nKvHeads * hd)));
      model.dispose();
    }
    manualSeed(0);
    const model = new GPT(tiny('llama'));
    const info = applyLoRA(model, { rank: 2, alpha: 2, targets: ['qkv', 'gate'] });
    expect(info.adapters.filter((a) => a.layer === 'blocks.1.attn.qkv').map((a) => a.target)).toEqual([
      'q',
      'k',
      'v',
    ]);
    expect(info.wrapped).toContain('blocks.1.mlp.gate');
    unloadLoRA(model);
    expect(applyLoRA(model, { rank: 2, alpha: 2, targets: 'all-linear' }).adapters.length).toBe(2 * 7);
    model.dispose();
  });

  test("gpt2's c_proj selects both the attention output and the MLP projection (peft's suffix rule)", () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    const info = applyLoRA(model, { rank: 2, alpha: 2, targets: ['c_proj'] });
    expect(info.wrapped).toEqual([
      'blocks.0.attn.o',
      'blocks.0.mlp.proj',
      'blocks.1.attn.o',
      'blocks.1.mlp.proj',
    ]);
    model.dispose();
  });

  test('unknown targets and bad options are errors that say what is valid', () => {
    manualSeed(0);
    const gpt2 = new GPT(tiny('gpt2'));
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: 2, targets: ['qkv', 'attn'] })).toThrow(
      /unknown target 'attn'.*valid targets: qkv, o, fc, proj \(or the Hugging Face names c_attn, c_proj, c_fc\), or 'all-linear'/,
    );
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: 2, targets: ['q', 'v'] })).toThrow(/fused.*target 'qkv'/);
    expect(() => applyLoRA(gpt2, { rank: 0, alpha: 2, targets: ['qkv'] })).toThrow(
      /rank must be a positive integer/,
    );
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: -1, targets: ['qkv'] })).toThrow(/alpha must be/);
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: 2, dropout: 1, targets: ['qkv'] })).toThrow(/dropout/);
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: 2, targets: [] })).toThrow(/non-empty array/);
    expect(hasLoRA(gpt2)).toBe(false); // nothing was changed by a failed call
    expect(gpt2.parameters().every((p) => p.requiresGrad)).toBe(true);
    applyLoRA(gpt2, { rank: 2, alpha: 2, targets: ['qkv'] });
    expect(() => applyLoRA(gpt2, { rank: 2, alpha: 2, targets: ['o'] })).toThrow(/already has LoRA adapters/);
    expect(() => mergeLoRA(new GPT(tiny('gpt2')))).toThrow(/no LoRA adapters/);
    const llama = new GPT(tiny('llama'));
    expect(() => applyLoRA(llama, { rank: 2, alpha: 2, targets: ['fc'] })).toThrow(
      /valid targets: qkv, q, k, v, o, gate, up, down \(or the Hugging Face names q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj\)/,
    );
    gpt2.dispose();
    llama.dispose();
  });

  test('freezing: only adapters train; unload restores what trained before, including parameters frozen by hand', () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    model.tokenEmbedding.weight.requiresGrad = false;
    applyLoRA(model, { rank: 2, alpha: 2, targets: ['fc'] });
    const trainable = trainableParameters(model).map(([n]) => n);
    expect(trainable).toEqual([
      'blocks.0.mlp.fc.lora.fc.A',
      'blocks.0.mlp.fc.lora.fc.B',
      'blocks.1.mlp.fc.lora.fc.A',
      'blocks.1.mlp.fc.lora.fc.B',
    ]);
    expect(unloadLoRA(model)).toBe(2);
    for (const [n, p] of model.namedParameters())
      expect(p.requiresGrad, n).toBe(n !== 'tokenEmbedding.weight');
    model.dispose();
  });

  test('seed: the same A from the same seed, and the global generator is left where it was', async () => {
    const make = () => {
      manualSeed(0);
      return new GPT(tiny('gpt2'));
    };
    const a = make();
    const b = make();
    manualSeed(123);
    const state = getRngState();
    applyLoRA(a, { rank: 2, alpha: 2, targets: ['qkv'], seed: 7 });
    expect(getRngState()).toEqual(state);
    applyLoRA(b, { rank: 2, alpha: 2, targets: ['qkv'], seed: 7 });
    const [[, pa]] = loraParameters(a);
    const [[, pb]] = loraParameters(b);
    expect(Array.from(await pa.data())).toEqual(Array.from(await pb.data()));
    // Kaiming-uniform(a = √5) on [r, in]: bound 1/√in; B starts at zero
    const bound = 1 / Math.sqrt(16);
    const values = Array.from(await pa.data());
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.7 * bound);
    expect(Array.from(await loraParameters(a)[1][1].data()).every((v) => v === 0)).toBe(true);
    a.dispose();
    b.dispose();
  });
});
