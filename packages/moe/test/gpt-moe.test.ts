/**
 * MoE inside a GPT through the feed-forward slot: per-block placement, total vs active counts,
 * auxiliary losses and router metrics in the output and their gradients (a test that fails if the
 * aux loss does not reach the router), KV-cache generation, model directories with Mixtral's
 * tensor names, and a trainer step with bias balancing.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backward, noGrad } from '@kiln/autograd';
import { manualSeed, randn, tensor } from '@kiln/tensor';
import { readSafetensorsFile } from '@kiln/tensor/node';
import { AdamW, languageModelObjective, trainStep } from '@kiln/trainer';
import { GPT, type GPTConfig, toHFConfig } from '@kiln/transformer';

const toHFConfigOf = (model: GPT) => toHFConfig(model.config);

import { loadModel, saveModel } from '@kiln/transformer/node';
import { expect, test } from 'vitest';
import {
  MoE,
  type MoEOptions,
  moeFeedForward,
  moeLayers,
  moeModelReport,
  updateBalancingBias,
} from '../src/index.js';
import { initCpu, maxAbsDiff, tryWebgpu } from './helpers.js';

const cpu = await initCpu();

function config(moe: MoEOptions, everyNLayers = 1): GPTConfig {
  const c: GPTConfig = {
    family: 'llama',
    vocabSize: 32,
    contextLength: 16,
    nLayers: 2,
    nHeads: 2,
    dModel: 16,
    dFF: 32,
  };
  c.feedForward = moeFeedForward(c, moe, { everyNLayers });
  return c;
}

function batch(seed: number, B = 2, T = 8) {
  manualSeed(seed);
  const ids = Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => (b * 7 + t * 3 + seed) % 32),
  );
  const targets = ids.map((row) => row.map((v) => (v + 1) % 32));
  return { ids: tensor(ids, { dtype: 'int32' }), targets: tensor(targets, { dtype: 'int32' }) };
}

test('moeFeedForward places MoE blocks; total and active parameters and FLOPs', () => {
  manualSeed(0);
  const model = new GPT(config({ experts: 4, topK: 1, expertDFF: 8, sharedExperts: 1 }, 2));
  expect(model.blocks[0].mlp).not.toBeInstanceOf(MoE);
  expect(model.blocks[1].mlp).toBeInstanceOf(MoE);
  const perExpert = 3 * 16 * 8;
  const dense = new GPT({ ...config({ experts: 4, topK: 1, expertDFF: 8 }), feedForward: undefined });
  const expectedTotal = dense.numParameters() - 3 * 16 * 32 + (16 * 4 + 4 * perExpert + perExpert);
  expect(model.numParameters()).toBe(expectedTotal);
  expect(model.activeParameters()).toBe(expectedTotal - 3 * perExpert);
  expect(model.flopsPerToken(16)).toBe(6 * (model.activeParameters() - 32 * 16) + 12 * 2 * 16 * 16);
  expect(moeModelReport(model)).toEqual({
    totalParams: model.numParameters(),
    activeParams: model.activeParameters(),
    flopsPerToken: model.flopsPerToken(),
  });
  expect(
    () => new GPT({ ...config({ experts: 2, topK: 1 }), feedForward: { kind: 'moe', experts: 2, topK: 4 } }),
  ).toThrow(/GPTConfig\.feedForward\.topK \(4\) is larger than GPTConfig\.feedForward\.experts \(2\)/);
});

test('the output carries each layer’s aux losses and load metrics; the aux loss reaches the router’s gradient', async () => {
  manualSeed(1);
  const model = new GPT(
    config({ experts: 4, topK: 2, expertDFF: 8, balancing: { auxLoss: 0.5, zLoss: 0.01 } }),
  );
  const { ids, targets } = batch(1);
  const out = model.forward(ids, targets);
  expect(Object.keys(out.auxLosses).sort()).toEqual([
    'blocks.0.mlp.balance',
    'blocks.0.mlp.zloss',
    'blocks.1.mlp.balance',
    'blocks.1.mlp.zloss',
  ]);
  let load = 0;
  for (let i = 0; i < 4; i++) load += await out.metrics[`blocks.1.mlp.load.${i}`].item();
  expect(load).toBeCloseTo(1, 5);
  // balance is α at perfect balance and up to α·E: with 4 experts in [0.5, 2]
  const balance = await out.auxLosses['blocks.0.mlp.balance'].item();
  expect(balance).toBeGreaterThanOrEqual(0.5 - 1e-6);
  expect(balance).toBeLessThanOrEqual(2);

  // the default objective adds Σ aux losses: its router gradient minus the LM-only gradient is
  // exactly the aux losses' gradient (zero difference = the aux loss does not reach training)
  const router = (model.blocks[0].mlp as MoE).router.weight;
  const gradOf = async (f: () => ReturnType<typeof model.forward>['loss']) => {
    model.zeroGrad();
    backward(f()!);
    return Float64Array.from(await router.grad!.data());
  };
  const objective = languageModelObjective();
  const full = await gradOf(() => objective(model, { ids, targets }).loss);
  const lmOnly = await gradOf(() => model.forward(ids, targets).loss);
  const auxOnly = await gradOf(() => {
    const o = model.forward(ids, targets);
    return Object.values(o.auxLosses).reduce((a, b) => a.add(b));
  });
  const difference = full.map((v, i) => v - lmOnly[i]);
  expect(Math.max(...auxOnly.map(Math.abs))).toBeGreaterThan(1e-5);
  expect(maxAbsDiff(difference, auxOnly)).toBeLessThan(1e-6);
});

test('padding tokens are routed but not counted in the load', async () => {
  manualSeed(2);
  const model = new GPT(config({ experts: 4, topK: 1, expertDFF: 8 }));
  const { ids, targets } = batch(2, 1, 8);
  const padding = tensor([[true, true, true, true, false, false, false, false]], { dtype: 'bool' });
  const padded = model.forward(ids, { targets, padding });
  const real = model.forward(ids.slice(1, 4, 8), { targets: targets.slice(1, 4, 8) });
  for (let i = 0; i < 4; i++) {
    // the real tokens' routing in the first block does not depend on the padding (it is masked out of attention)
    expect(await padded.metrics[`blocks.0.mlp.load.${i}`].item()).toBeCloseTo(
      await real.metrics[`blocks.0.mlp.load.${i}`].item(),
      5,
    );
  }
});

test.each([
  ['cpu', 'capacity'],
  ['webgpu', 'dropless'],
] as const)('KV-cache generation equals the full forward (%s, %s)', async (name, dispatch) => {
  const backend = name === 'cpu' ? cpu : await tryWebgpu();
  if (!backend) return;
  manualSeed(3);
  const moe: MoEOptions =
    dispatch === 'capacity'
      ? { experts: 4, topK: 2, expertDFF: 8, dispatch, capacityFactor: 4 }
      : { experts: 4, topK: 2, expertDFF: 8 };
  const model = new GPT(config(moe), { backend });
  model.eval();
  const prompt = [3, 1, 4, 1, 5];
  const generated: number[] = [];
  for await (const id of model.generate(prompt, { maxTokens: 6, temperature: 0 })) generated.push(id);
  // greedy without the cache: run the whole sequence each step
  const seq = [...prompt];
  for (let s = 0; s < 6; s++) {
    const logits = noGrad(() => model.forward(tensor([seq], { dtype: 'int32', backend })).logits);
    const last = (await logits
      .slice(1, seq.length - 1, seq.length)
      .reshape([32])
      .toArray()) as number[];
    seq.push(last.indexOf(Math.max(...last)));
  }
  expect(generated).toEqual(seq.slice(prompt.length));
});

test('saveModel/loadModel: Mixtral tensor names, same logits', async () => {
  manualSeed(4);
  const model = new GPT(config({ experts: 3, topK: 2, expertDFF: 8, balancing: { biasUpdateRate: 0.01 } }));
  noGrad(() => (model.blocks[1].mlp as MoE).router.selectionBias!.assign(tensor([0.1, -0.2, 0.05])));
  const dir = await mkdtemp(join(tmpdir(), 'kiln-moe-'));
  try {
    await saveModel(model, dir);
    const file = await readSafetensorsFile(join(dir, 'model.safetensors'));
    const names = [...file.tensors.keys()];
    expect(names).toContain('model.layers.1.block_sparse_moe.gate.weight');
    expect(names).toContain('model.layers.1.block_sparse_moe.gate.e_score_correction_bias');
    expect(names).toContain('model.layers.0.block_sparse_moe.experts.2.w3.weight');
    expect(file.tensors.get('model.layers.0.block_sparse_moe.experts.2.w1.weight')?.shape).toEqual([8, 16]);
    expect(file.tensors.get('model.layers.0.block_sparse_moe.experts.2.w2.weight')?.shape).toEqual([16, 8]);
    const again = await loadModel(dir);
    const { ids } = batch(4);
    const a = noGrad(() => model.forward(ids).logits);
    const b = noGrad(() => again.forward(ids).logits);
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(1e-6);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bias balancing: a trainer step then updateBalancingBias moves the bias against the load', async () => {
  manualSeed(5);
  const model = new GPT(
    config({ experts: 4, topK: 1, expertDFF: 8, balancing: { auxLoss: 0, biasUpdateRate: 0.1 } }),
  );
  // a collapsed router: every token prefers expert 2
  for (const [, layer] of moeLayers(model)) {
    noGrad(() =>
      layer.router.weight.assign(randn([4, 16], { std: 0.01 }).add(tensor([0, 0, 1, 0]).unsqueeze(1))),
    );
  }
  const optimizer = new AdamW(
    model.parameters().filter((p) => p.requiresGrad),
    { lr: 1e-3 },
  );
  const step = trainStep(model, optimizer, [batch(5)], languageModelObjective());
  expect(await step.metrics['blocks.0.mlp.load.2'].item()).toBeGreaterThan(0.5);
  // evaluation forwards (no gradient) do not count toward the load
  noGrad(() => model.forward(batch(6).ids));
  updateBalancingBias(model);
  for (const [path, layer] of moeLayers(model)) {
    // the overloaded expert's bias goes down by γ, every expert below the mean load goes up by γ
    const bias = (await layer.router.selectionBias!.toArray()) as number[];
    expect(bias[2]).toBeCloseTo(-0.1, 6);
    for (let e = 0; e < 4; e++) {
      if ((await step.metrics[`${path}.load.${e}`].item()) < 0.25) expect(bias[e]).toBeCloseTo(0.1, 6);
    }
  }
  // a second update without new training forwards does nothing
  const before = await (moeLayers(model)[0][1].router.selectionBias!.toArray() as Promise<number[]>);
  updateBalancingBias(model);
  expect(await moeLayers(model)[0][1].router.selectionBias!.toArray()).toEqual(before);
});

test('Mixtral config.json: written for a Mixtral-shaped model, read back without kiln_config', async () => {
  manualSeed(7);
  const c: GPTConfig = {
    family: 'llama',
    vocabSize: 32,
    contextLength: 16,
    nLayers: 2,
    nHeads: 2,
    nKvHeads: 1,
    dModel: 16,
  };
  c.feedForward = { kind: 'moe', experts: 4, topK: 2, expertDFF: 8, balancing: { auxLoss: 0.04 } };
  const model = new GPT(c);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-mixtral-'));
  try {
    await saveModel(model, dir);
    const path = join(dir, 'config.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json).toMatchObject({
      model_type: 'mixtral',
      architectures: ['MixtralForCausalLM'],
      num_local_experts: 4,
      num_experts_per_tok: 2,
      intermediate_size: 8,
      router_aux_loss_coef: 0.02,
      num_key_value_heads: 1,
    });
    // what transformers' save_pretrained would write: no kiln_config
    delete json.kiln_config;
    await writeFile(path, JSON.stringify(json));
    const again = await loadModel(dir);
    expect(again.config.feedForward).toMatchObject({
      kind: 'moe',
      experts: 4,
      topK: 2,
      expertDFF: 8,
      balancing: { auxLoss: 0.04 },
    });
    const { ids } = batch(7);
    const a = noGrad(() => model.forward(ids).logits);
    const b = noGrad(() => again.forward(ids).logits);
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(1e-6);
    await writeFile(path, JSON.stringify({ ...json, sliding_window: 4 }));
    await expect(loadModel(dir)).rejects.toThrow(/sliding_window 4 is below max_position_embeddings 16/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // a model Mixtral cannot express (shared experts) is written as a Llama with kiln_config
  const shared = new GPT({
    ...c,
    feedForward: { kind: 'moe', experts: 2, topK: 1, expertDFF: 8, sharedExperts: 1 },
  });
  expect(toHFConfigOf(shared).model_type).toBe('llama');
  shared.dispose();
  // nor scaled gates (Mixtral has no routed_scaling_factor)
  const scaled = new GPT({
    ...c,
    feedForward: { kind: 'moe', experts: 2, topK: 1, expertDFF: 8, routedScale: 2 },
  });
  expect(toHFConfigOf(scaled).model_type).toBe('llama');
  scaled.dispose();
});
