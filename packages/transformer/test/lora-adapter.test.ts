/**
 * peft's adapter format: the file names, tensor names, shapes and config fields checked against
 * lists written out by hand for 2-layer models; adapters written by hand in peft's layout load
 * and reproduce a base model whose Hugging Face weights were merged the way peft merges
 * (`W += s·(B·A)ᵀ` for GPT-2's Conv1D `[in, out]`, `W += s·B·A` for Llama's `nn.Linear`);
 * round trips; every error.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import { manualSeed } from '@kiln/tensor';
import { readSafetensorsFile, writeSafetensorsFile } from '@kiln/tensor/node';
import type { SafetensorsEntry } from '@kiln/tensor/safetensors';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  applyLoRA,
  GPT,
  type GPTConfig,
  hasLoRA,
  loraParameters,
  ModelFileError,
  unloadLoRA,
} from '../src/index.js';
import { loadAdapter, loadModel, saveAdapter, saveModel } from '../src/node.js';
import { ids, initCpu, maxAbsDiff, randomTokens, tryWebgpu } from './helpers.js';
import { matmul, randomizeB, transpose, uniform } from './lora-reference.js';

await initCpu();
const webgpu = await tryWebgpu();

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-lora-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `d${counter++}`);

const D = 16;
const tiny = (family: 'gpt2' | 'llama', extra: Partial<GPTConfig> = {}): GPTConfig => ({
  family,
  vocabSize: 40,
  contextLength: 16,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: family === 'llama' ? 2 : undefined,
  dModel: D,
  ...extra,
});

/** A base model directory (saveModel) of a seeded model. */
async function baseDir(config: GPTConfig): Promise<string> {
  manualSeed(0);
  const model = new GPT(config);
  const dir = freshDir();
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

const input = () => ids([randomTokens(10, 40, 1), randomTokens(10, 40, 2)]);

async function logits(model: GPT): Promise<Float32Array> {
  const x = input();
  const out = noGrad(() => model.forward(x).logits);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  x.dispose();
  return data;
}

function f32(values: ArrayLike<number>, shape: number[]): SafetensorsEntry {
  return { dtype: 'F32', shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

function values(entry: SafetensorsEntry): Float32Array {
  return new Float32Array(entry.data.slice().buffer);
}

/** Shapes by name of a safetensors file. */
async function shapes(path: string): Promise<Record<string, number[]>> {
  const parsed = await readSafetensorsFile(path);
  return Object.fromEntries([...parsed.tensors].map(([n, e]) => [n, [...e.shape]]));
}

describe('saveAdapter writes what peft writes', () => {
  test('gpt2, all-linear: the peft tensor names and shapes of a 2-layer model, and the LoraConfig', async () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    applyLoRA(model, { rank: 4, alpha: 8, dropout: 0.05, targets: 'all-linear' });
    const dir = freshDir();
    await saveAdapter(model, dir, { baseModelNameOrPath: 'gpt2' });
    const r = 4;
    const expected: Record<string, number[]> = {};
    for (const i of [0, 1]) {
      const p = `base_model.model.transformer.h.${i}`;
      // lora_A is nn.Linear(in, r): [r, in]; lora_B nn.Linear(r, out): [out, r], Conv1D or not
      expected[`${p}.attn.c_attn.lora_A.weight`] = [r, D];
      expected[`${p}.attn.c_attn.lora_B.weight`] = [3 * D, r];
      expected[`${p}.attn.c_proj.lora_A.weight`] = [r, D];
      expected[`${p}.attn.c_proj.lora_B.weight`] = [D, r];
      expected[`${p}.mlp.c_fc.lora_A.weight`] = [r, D];
      expected[`${p}.mlp.c_fc.lora_B.weight`] = [4 * D, r];
      expected[`${p}.mlp.c_proj.lora_A.weight`] = [r, 4 * D];
      expected[`${p}.mlp.c_proj.lora_B.weight`] = [D, r];
    }
    expect(await shapes(join(dir, 'adapter_model.safetensors'))).toEqual(expected);
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'gpt2',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0.05,
      target_modules: ['c_attn', 'c_fc', 'c_proj'],
      fan_in_fan_out: true,
      bias: 'none',
      use_rslora: false,
      use_dora: false,
      modules_to_save: null,
    });
    model.dispose();
  });

  test("gpt2, only the attention output: target_modules says attn.c_proj, since c_proj alone would also select the MLP's", async () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    applyLoRA(model, { rank: 2, alpha: 2, targets: ['o'], rsLoRA: true });
    const dir = freshDir();
    await saveAdapter(model, dir);
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config.target_modules).toEqual(['attn.c_proj']);
    expect(config.use_rslora).toBe(true);
    expect(config.base_model_name_or_path).toBeNull();
    expect(Object.keys(await shapes(join(dir, 'adapter_model.safetensors'))).sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_proj.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_proj.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_proj.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_proj.lora_B.weight',
    ]);
    model.dispose();
  });

  test('llama, q and v: separate q_proj / v_proj adapters although our projection is fused', async () => {
    manualSeed(0);
    const model = new GPT(tiny('llama'));
    applyLoRA(model, { rank: 2, alpha: 4, targets: ['q', 'v'] });
    const dir = freshDir();
    await saveAdapter(model, dir);
    const hd = D / 4;
    const expected: Record<string, number[]> = {};
    for (const i of [0, 1]) {
      const p = `base_model.model.model.layers.${i}.self_attn`;
      expected[`${p}.q_proj.lora_A.weight`] = [2, D];
      expected[`${p}.q_proj.lora_B.weight`] = [4 * hd, 2];
      expected[`${p}.v_proj.lora_A.weight`] = [2, D];
      expected[`${p}.v_proj.lora_B.weight`] = [2 * hd, 2];
    }
    expect(await shapes(join(dir, 'adapter_model.safetensors'))).toEqual(expected);
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      target_modules: ['q_proj', 'v_proj'],
      fan_in_fan_out: false,
      r: 2,
      lora_alpha: 4,
    });
    model.dispose();
  });
});

describe('round trips', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    test(`${family}: saveAdapter → loadAdapter onto the base model reproduces the outputs`, async () => {
      const base = await baseDir(tiny(family));
      const model = await loadModel(base);
      applyLoRA(model, { rank: 3, alpha: 6, rsLoRA: family === 'llama', targets: 'all-linear', seed: 1 });
      randomizeB(model, uniform(2, 0.3));
      const want = await logits(model);
      const dir = freshDir();
      await saveAdapter(model, dir);
      const again = await loadModel(base);
      const info = await loadAdapter(again, dir);
      expect(info.rank).toBe(3);
      expect(info.rsLoRA).toBe(family === 'llama');
      expect(info.adapters.length).toBe(family === 'gpt2' ? 8 : 14);
      expect(maxAbsDiff(await logits(again), want)).toBe(0);
      const saved = loraParameters(model);
      const loaded = new Map(loraParameters(again));
      for (const [n, p] of saved)
        expect(Array.from(await loaded.get(n)!.data())).toEqual(Array.from(await p.data()));
      // loaded adapters train, the base does not
      expect(again.namedParameters().filter(([, p]) => p.requiresGrad).length).toBe(saved.length);
      // float16 files hold the same adapters to half precision
      const half = freshDir();
      await saveAdapter(model, half, { dtype: 'float16' });
      expect(
        (await readSafetensorsFile(join(half, 'adapter_model.safetensors'))).tensors.values().next().value!
          .dtype,
      ).toBe('F16');
      const third = await loadModel(base);
      await loadAdapter(third, half);
      expect(maxAbsDiff(await logits(third), want)).toBeLessThan(2e-2);
      for (const m of [model, again, third]) m.dispose();
    });
  }
});

test.skipIf(webgpu === null)(
  'an adapter saved from cpu loads onto a webgpu model and computes the same',
  async () => {
    const base = await baseDir(tiny('llama'));
    const model = await loadModel(base);
    applyLoRA(model, { rank: 2, alpha: 4, targets: ['q', 'v', 'up'], seed: 2 });
    randomizeB(model, uniform(5, 0.3));
    const dir = freshDir();
    await saveAdapter(model, dir);
    const gpu = await loadModel(base, { backend: 'webgpu' });
    await loadAdapter(gpu, dir);
    expect(loraParameters(gpu)[0][1].backend.name).toBe('webgpu');
    const x = ids([randomTokens(10, 40, 1)], gpu.backend);
    const out = noGrad(() => gpu.forward(x).logits);
    const cpuX = ids([randomTokens(10, 40, 1)]);
    const want = noGrad(() => model.forward(cpuX).logits);
    expect(maxAbsDiff(await out.data(), await want.data())).toBeLessThan(2e-3);
    for (const t of [x, out, cpuX, want]) t.dispose();
    model.dispose();
    gpu.dispose();
  },
);

/**
 * A base model directory with peft's merge applied to its Hugging Face weights by hand:
 * `W += s·(B·A)ᵀ` for a Conv1D weight stored `[in, out]`, `W += s·B·A` for an `[out, in]` one.
 */
async function mergedByHand(
  base: string,
  adapters: Record<string, { A: Float32Array; B: Float32Array; inF: number; out: number }>,
  rank: number,
  scale: number,
  conv1d: boolean,
): Promise<string> {
  const parsed = await readSafetensorsFile(join(base, 'model.safetensors'));
  const next = new Map(parsed.tensors);
  for (const [module, { A, B, inF, out }] of Object.entries(adapters)) {
    const name = `${module}.weight`;
    const W = values(parsed.tensors.get(name)!);
    const BA = matmul(B, A, out, rank, inF); // [out, in]
    const delta = conv1d ? transpose(BA, out, inF) : BA;
    next.set(
      name,
      f32(
        W.map((w, i) => w + scale * delta[i]),
        [...parsed.tensors.get(name)!.shape],
      ),
    );
  }
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, 'model.safetensors'), next, parsed.metadata);
  await copyFile(join(base, 'config.json'), join(dir, 'config.json'));
  return dir;
}

/** An adapter directory written by hand in peft's layout (a config with fields peft adds that we ignore). */
async function peftDir(
  tensors: Record<string, SafetensorsEntry>,
  config: Record<string, unknown>,
): Promise<string> {
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, 'adapter_model.safetensors'), Object.entries(tensors), {
    format: 'pt',
  });
  await writeFile(
    join(dir, 'adapter_config.json'),
    JSON.stringify({
      alpha_pattern: {},
      auto_mapping: null,
      base_model_name_or_path: 'hand-written',
      bias: 'none',
      inference_mode: true,
      init_lora_weights: true,
      layers_pattern: null,
      layers_to_transform: null,
      megatron_config: null,
      megatron_core: 'megatron.core',
      modules_to_save: null,
      peft_type: 'LORA',
      rank_pattern: {},
      revision: null,
      task_type: 'CAUSAL_LM',
      use_dora: false,
      use_rslora: false,
      ...config,
    }),
  );
  return dir;
}

describe('adapters written by hand in peft layout', () => {
  test("gpt2: c_attn and c_fc adapters equal peft's merge into the Conv1D weights", async () => {
    const base = await baseDir(tiny('gpt2'));
    const r = 2;
    const alpha = 5;
    const next = uniform(21, 0.4);
    const make = (inF: number, out: number) => ({
      A: Float32Array.from({ length: r * inF }, next),
      B: Float32Array.from({ length: out * r }, next),
      inF,
      out,
    });
    const adapters = {
      'transformer.h.0.attn.c_attn': make(D, 3 * D),
      'transformer.h.1.mlp.c_fc': make(D, 4 * D),
    };
    const tensors: Record<string, SafetensorsEntry> = {};
    for (const [m, a] of Object.entries(adapters)) {
      tensors[`base_model.model.${m}.lora_A.weight`] = f32(a.A, [r, a.inF]);
      tensors[`base_model.model.${m}.lora_B.weight`] = f32(a.B, [a.out, r]);
    }
    const dir = await peftDir(tensors, {
      r,
      lora_alpha: alpha,
      lora_dropout: 0.1,
      target_modules: ['c_attn', 'c_fc'],
      fan_in_fan_out: true,
    });
    const model = await loadModel(base);
    const info = await loadAdapter(model, dir);
    expect(info.wrapped).toEqual(['blocks.0.attn.qkv', 'blocks.1.mlp.fc']);
    expect(info.scale).toBeCloseTo(alpha / r, 12);
    const reference = await loadModel(await mergedByHand(base, adapters, r, alpha / r, true));
    model.eval(); // lora_dropout 0.1 is active in training mode
    expect(maxAbsDiff(await logits(model), await logits(reference))).toBeLessThan(1e-4);
    model.dispose();
    reference.dispose();
  });

  test('llama: q_proj and v_proj adapters (rsLoRA) equal the merge into those weights', async () => {
    const base = await baseDir(tiny('llama'));
    const r = 4;
    const alpha = 3;
    const hd = D / 4;
    const next = uniform(22, 0.4);
    const make = (out: number) => ({
      A: Float32Array.from({ length: r * D }, next),
      B: Float32Array.from({ length: out * r }, next),
      inF: D,
      out,
    });
    const adapters = {
      'model.layers.0.self_attn.q_proj': make(4 * hd),
      'model.layers.0.self_attn.v_proj': make(2 * hd),
      'model.layers.1.self_attn.v_proj': make(2 * hd),
    };
    const tensors: Record<string, SafetensorsEntry> = {};
    for (const [m, a] of Object.entries(adapters)) {
      tensors[`base_model.model.${m}.lora_A.weight`] = f32(a.A, [r, a.inF]);
      tensors[`base_model.model.${m}.lora_B.weight`] = f32(a.B, [a.out, r]);
    }
    const dir = await peftDir(tensors, {
      r,
      lora_alpha: alpha,
      use_rslora: true,
      target_modules: ['q_proj', 'v_proj'],
      fan_in_fan_out: false,
    });
    const model = await loadModel(base);
    const info = await loadAdapter(model, dir);
    expect(info.adapters.map((a) => a.hfModule)).toEqual(Object.keys(adapters));
    const reference = await loadModel(await mergedByHand(base, adapters, r, alpha / Math.sqrt(r), false));
    expect(maxAbsDiff(await logits(model), await logits(reference))).toBeLessThan(1e-4);
    model.dispose();
    reference.dispose();
  });
});

describe('errors', () => {
  const loraTensors = (m = 'transformer.h.0.attn.c_attn', r = 2, out = 3 * D) => ({
    [`base_model.model.${m}.lora_A.weight`]: f32(new Float32Array(r * D), [r, D]),
    [`base_model.model.${m}.lora_B.weight`]: f32(new Float32Array(out * r), [out, r]),
  });
  const expectError = async (model: GPT, dir: string, pattern: RegExp) => {
    const error = await loadAdapter(model, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toMatch(pattern);
    expect(hasLoRA(model)).toBe(false); // nothing changed
  };

  test('missing directory or files', async () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    await expectError(model, join(root, 'nope'), /has no adapter_config\.json; an adapter directory/);
    const dir = await peftDir(loraTensors(), { r: 2, lora_alpha: 2 });
    await rm(join(dir, 'adapter_model.safetensors'));
    await expectError(model, dir, /has no adapter_model\.safetensors$/);
    await writeFile(join(dir, 'adapter_model.bin'), 'pickle');
    await expectError(model, dir, /adapter_model\.bin \(a PyTorch pickle.*safe_serialization=True/);
    const broken = await peftDir(loraTensors(), { r: 2, lora_alpha: 2 });
    await writeFile(join(broken, 'adapter_config.json'), '{ nope');
    await expectError(model, broken, /is not valid JSON/);
    model.dispose();
  });

  test('configs these adapters cannot represent', async () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ peft_type: 'IA3' }, /peft_type is "IA3"; only LoRA adapters/],
      [{ task_type: 'SEQ_CLS' }, /task_type is "SEQ_CLS"/],
      [{ r: 0 }, /r must be a positive integer/],
      [{ lora_alpha: 'x' }, /lora_alpha must be a number/],
      [{ use_dora: true }, /DoRA/],
      [{ bias: 'all' }, /bias is "all"/],
      [{ rank_pattern: { c_attn: 4 } }, /per-module ranks/],
      [{ modules_to_save: ['lm_head'] }, /modules_to_save/],
    ];
    for (const [patch, pattern] of cases)
      await expectError(model, await peftDir(loraTensors(), { r: 2, lora_alpha: 2, ...patch }), pattern);
    model.dispose();
  });

  test('tensors that do not fit the base model', async () => {
    manualSeed(0);
    const gpt2 = new GPT(tiny('gpt2'));
    // r in the config differs from the tensors'
    await expectError(
      gpt2,
      await peftDir(loraTensors(), { r: 4, lora_alpha: 2 }),
      /mis-shaped tensors \(2, r = 4\):\n.*c_attn\.lora_A\.weight: expected \[4,16\], file has \[2,16\]/,
    );
    // a wider base model's adapter
    await expectError(
      gpt2,
      await peftDir(loraTensors('transformer.h.0.attn.c_attn', 2, 3 * 32), { r: 2, lora_alpha: 2 }),
      /lora_B\.weight: expected \[48,2\], file has \[96,2\]/,
    );
    // a deeper base model's adapter, and a Llama adapter on GPT-2
    await expectError(
      gpt2,
      await peftDir(loraTensors('transformer.h.5.attn.c_attn'), { r: 2, lora_alpha: 2 }),
      /modules this gpt2 model \(2 layers\) does not have \(1\): transformer\.h\.5\.attn\.c_attn/,
    );
    await expectError(
      gpt2,
      await peftDir(loraTensors('model.layers.0.self_attn.q_proj', 2, D), { r: 2, lora_alpha: 2 }),
      /trained on hand-written\) does not fit.*model\.layers\.0\.self_attn\.q_proj/s,
    );
    // half an adapter, and a tensor that is no LoRA matrix
    const half = loraTensors();
    delete half['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'];
    await expectError(
      gpt2,
      await peftDir(half, { r: 2, lora_alpha: 2 }),
      /incomplete adapters \(1\): .*c_attn \(no lora_B\)/,
    );
    await expectError(
      gpt2,
      await peftDir(
        { ...loraTensors(), 'base_model.model.lm_head.weight': f32(new Float32Array(4), [2, 2]) },
        { r: 2, lora_alpha: 2 },
      ),
      /not LoRA matrices.*\(1\): base_model\.model\.lm_head\.weight/,
    );
    await expectError(gpt2, await peftDir({}, { r: 2, lora_alpha: 2 }), /holds no LoRA tensors/);
    gpt2.dispose();
  });

  test('our own adapter on another base model names the difference; saving needs adapters; saveModel refuses to drop them', async () => {
    manualSeed(0);
    const model = new GPT(tiny('gpt2'));
    await expect(saveAdapter(model, freshDir())).rejects.toThrow(/no LoRA adapters; call applyLoRA/);
    applyLoRA(model, { rank: 2, alpha: 2, targets: ['qkv'] });
    await expect(saveModel(model, freshDir())).rejects.toThrow(/mergeLoRA\(model\) first.*or saveAdapter/);
    const dir = freshDir();
    await saveAdapter(model, dir);
    const shallow = new GPT(tiny('gpt2', { nLayers: 1 }));
    await expectError(shallow, dir, /trained on a different base model: nLayers 2 \(this model: 1\)/);
    // an adapted model takes no second adapter set
    const error = await loadAdapter(model, dir).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/already has LoRA adapters/);
    unloadLoRA(model);
    await loadAdapter(model, dir);
    for (const m of [model, shallow]) m.dispose();
  });
});
