/** Model directories in Hugging Face format: round trips, float16, HF variants (prefix-less, sharded, buffers), errors. */
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRngState, manualSeed, scope, tensor } from '@kiln/tensor';
import { readSafetensorsFile, writeSafetensorsFile } from '@kiln/tensor/node';
import { type SafetensorsEntry, SafetensorsError } from '@kiln/tensor/safetensors';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  fromHFConfig,
  GPT,
  type GPTConfig,
  ModelFileError,
  resolveConfig,
  toHFConfig,
} from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { initCpu, maxAbsDiff, randomTokens } from './helpers.js';

await initCpu();

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-model-dir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `c${counter++}`);

const tiny = (family: 'gpt2' | 'llama', extra: Partial<GPTConfig> = {}): GPTConfig => ({
  family,
  vocabSize: 48,
  contextLength: 16,
  nLayers: 2,
  nHeads: 4,
  dModel: 16,
  ...extra,
});
const input = tensor([randomTokens(9, 48, 1), randomTokens(9, 48, 2)], { dtype: 'int32' });

async function logitsOf(model: GPT): Promise<Float32Array> {
  return scope(async () => (await model.forward(input).logits.data()) as Float32Array);
}

/** Saves a fresh random model and returns it with its directory. */
async function saved(config: GPTConfig, seed = 0): Promise<{ model: GPT; dir: string }> {
  manualSeed(seed);
  const model = new GPT(config);
  const dir = freshDir();
  await saveModel(model, dir);
  return { model, dir };
}

async function entries(dir: string, file = 'model.safetensors'): Promise<Map<string, SafetensorsEntry>> {
  return (await readSafetensorsFile(join(dir, file))).tensors;
}

async function readConfig(dir: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
}

describe('round trips', () => {
  test.each([
    ['gpt2', tiny('gpt2')],
    ['llama (GQA)', tiny('llama', { nKvHeads: 2 })],
    [
      'llama with biases, QK-norm and a tied head',
      tiny('llama', { nKvHeads: 2, bias: true, qkNorm: true, tieEmbeddings: true }),
    ],
    [
      'gpt2 with GQA, QK-norm, no biases, untied head',
      tiny('gpt2', { nKvHeads: 1, qkNorm: true, bias: false, tieEmbeddings: false }),
    ],
  ])('%s: save then load gives the same config and logits', async (_, config) => {
    const { model, dir } = await saved(config);
    const loaded = await loadModel(dir);
    expect(loaded.config).toEqual(model.config);
    expect(maxAbsDiff(await logitsOf(loaded), await logitsOf(model))).toBe(0);
    model.dispose();
    loaded.dispose();
  });

  test('GPT-2 files use HF names, Conv1D [in, out] layout, fused c_attn, and omit the tied head', async () => {
    const { model, dir } = await saved(tiny('gpt2'));
    const files = await entries(dir);
    expect([...files.keys()].sort()).toContain('transformer.h.1.attn.c_attn.weight');
    expect(files.has('lm_head.weight')).toBe(false);
    expect(files.get('transformer.h.0.attn.c_attn.weight')!.shape).toEqual([16, 48]);
    expect(files.get('transformer.h.0.mlp.c_fc.weight')!.shape).toEqual([16, 64]);
    expect(files.get('transformer.h.0.mlp.c_proj.weight')!.shape).toEqual([64, 16]);
    expect(files.size).toBe(2 + 2 * 12 + 2);
    // the stored c_fc weight is the transpose of ours
    const stored = new Float32Array(files.get('transformer.h.0.mlp.c_fc.weight')!.data.slice().buffer);
    const ours = await model.blocks[0].mlp.fc!.weight.toArray();
    expect(stored[1 * 64 + 5]).toBe(ours[5][1]);
    const config = await readConfig(dir);
    expect(config).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: 16,
      n_layer: 2,
      n_head: 4,
      n_inner: 64,
      activation_function: 'gelu_new',
      tie_word_embeddings: true,
    });
    model.dispose();
  });

  test('Llama files split q/k/v into nn.Linear [out, in] projections and keep the untied head', async () => {
    const { model, dir } = await saved(tiny('llama', { nKvHeads: 2 }));
    const files = await entries(dir);
    expect(files.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([16, 16]);
    expect(files.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([8, 16]);
    expect(files.get('model.layers.0.self_attn.v_proj.weight')!.shape).toEqual([8, 16]);
    expect(files.get('model.layers.1.mlp.gate_proj.weight')!.shape).toEqual([model.config.dFF, 16]);
    expect(files.get('lm_head.weight')!.shape).toEqual([48, 16]);
    expect(await readConfig(dir)).toMatchObject({
      model_type: 'llama',
      num_key_value_heads: 2,
      hidden_act: 'silu',
      rope_theta: 10000,
      rms_norm_eps: 1e-5,
    });
    model.dispose();
  });

  test('the Hugging Face keys alone describe the same model (kiln_config is a convenience)', () => {
    for (const config of [
      tiny('gpt2'),
      tiny('llama', { nKvHeads: 2, ropeTheta: 500, tieEmbeddings: true, bias: true }),
    ]) {
      const resolved = resolveConfig(config);
      const { kiln_config: _, ...hf } = toHFConfig(resolved);
      expect(fromHFConfig(hf)).toEqual(resolved);
    }
  });

  test('float16 export halves the file and loads back close to the float32 model', async () => {
    const { model, dir } = await saved(tiny('llama'));
    const dir16 = freshDir();
    await saveModel(model, dir16, { dtype: 'float16' });
    const files = await entries(dir16);
    expect(new Set([...files.values()].map((e) => e.dtype))).toEqual(new Set(['F16']));
    expect((await readConfig(dir16)).torch_dtype).toBe('float16');
    const [size32, size16] = await Promise.all(
      [dir, dir16].map(async (d) => (await readFile(join(d, 'model.safetensors'))).length),
    );
    expect(size16 / size32).toBeLessThan(0.55); // half, plus the same JSON header
    const loaded = await loadModel(dir16);
    expect(loaded.dtype).toBe('float32');
    expect(maxAbsDiff(await logitsOf(loaded), await logitsOf(model))).toBeLessThan(1e-3);
    const half = await loadModel(dir16, { dtype: 'float16' });
    expect(half.parameters().every((p) => p.dtype === 'float16')).toBe(true);
    // a float16 model runs end to end (masks, RoPE tables and the KV cache follow its dtype)
    expect(maxAbsDiff(await logitsOf(half), await logitsOf(model))).toBeLessThan(2e-2);
    const tokens: number[] = [];
    for await (const id of half.generate([1, 2, 3], { maxTokens: 4, seed: 1 })) tokens.push(id);
    expect(tokens.length).toBe(4);
    for (const m of [model, loaded, half]) m.dispose();
  });

  test('loading leaves the global random generator where it was', async () => {
    const { model, dir } = await saved(tiny('gpt2'));
    manualSeed(5);
    const before = getRngState();
    (await loadModel(dir)).dispose();
    expect(getRngState()).toEqual(before);
    model.dispose();
  });
});

describe('Hugging Face variants', () => {
  test('GPT2Model names without "transformer.", mask buffers and a redundant lm_head load', async () => {
    const { model, dir } = await saved(tiny('gpt2'));
    const files = await entries(dir);
    const renamed = new Map<string, SafetensorsEntry>(
      [...files].map(([n, e]) => [n.replace(/^transformer\./, ''), e]),
    );
    renamed.set('h.0.attn.bias', { dtype: 'F32', shape: [1, 1, 16, 16], data: new Uint8Array(16 * 16 * 4) });
    renamed.set('h.0.attn.masked_bias', { dtype: 'F32', shape: [], data: new Uint8Array(4) });
    renamed.set('lm_head.weight', files.get('transformer.wte.weight')!);
    const hfDir = freshDir();
    await mkdir(hfDir);
    await writeSafetensorsFile(join(hfDir, 'model.safetensors'), renamed);
    const { kiln_config: _, ...hfConfig } = await readConfig(dir);
    await writeFile(join(hfDir, 'config.json'), JSON.stringify(hfConfig));
    const loaded = await loadModel(hfDir);
    // HF's GPT-2 config has no dropout key of ours: resid_pdrop (0 here) is used
    expect(loaded.config).toEqual(model.config);
    expect(maxAbsDiff(await logitsOf(loaded), await logitsOf(model))).toBe(0);
    model.dispose();
    loaded.dispose();
  });

  test('sharded model directories (model.safetensors.index.json) load', async () => {
    const { model, dir } = await saved(tiny('llama'));
    const files = [...(await entries(dir))];
    const shards = [files.slice(0, 7), files.slice(7)];
    const weightMap: Record<string, string> = {};
    const sharded = freshDir();
    await mkdir(sharded);
    for (const [i, shard] of shards.entries()) {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensorsFile(join(sharded, name), shard);
      for (const [tensorName] of shard) weightMap[tensorName] = name;
    }
    await writeFile(
      join(sharded, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await writeFile(join(sharded, 'config.json'), await readFile(join(dir, 'config.json')));
    const loaded = await loadModel(sharded);
    expect(maxAbsDiff(await logitsOf(loaded), await logitsOf(model))).toBe(0);
    model.dispose();
    loaded.dispose();
  });
});

describe('bad model directories are clear errors', () => {
  let good: string;
  let model: GPT;
  beforeAll(async () => {
    ({ model, dir: good } = await saved(tiny('llama', { nKvHeads: 2 })));
  });
  afterAll(() => model.dispose());

  /** A copy of the good model directory with the tensors and config changed. */
  async function variant(
    changeTensors: (m: Map<string, SafetensorsEntry>) => void,
    changeConfig: (c: Record<string, any>) => void = () => {},
  ): Promise<string> {
    const dir = freshDir();
    await mkdir(dir);
    const tensors = await entries(good);
    changeTensors(tensors);
    await writeSafetensorsFile(join(dir, 'model.safetensors'), tensors);
    const config = await readConfig(good);
    changeConfig(config);
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  test('missing files', async () => {
    await expect(loadModel(join(root, 'nowhere'))).rejects.toThrow(/has no config.json/);
    const noWeights = await variant(() => {});
    await rm(join(noWeights, 'model.safetensors'));
    await expect(loadModel(noWeights)).rejects.toThrow(
      /neither model.safetensors nor model.safetensors.index.json/,
    );
  });

  test('config.json that is not JSON, or describes a model Kiln does not implement', async () => {
    const dir = await variant(() => {});
    await writeFile(join(dir, 'config.json'), '{"model_type": "llama",');
    await expect(loadModel(dir)).rejects.toThrow(/config.json is not valid JSON.*corrupt/);
    // Hugging Face keys only (no kiln_config), with one change
    const hfOnly = (change: Record<string, unknown>) =>
      variant(
        () => {},
        (c) => {
          delete c.kiln_config;
          Object.assign(c, change);
        },
      );
    await expect(loadModel(await hfOnly({ model_type: 'bert' }))).rejects.toThrow(
      /model_type "bert" is not supported/,
    );
    await expect(
      loadModel(await hfOnly({ rope_scaling: { rope_type: 'llama3', factor: 8 } })),
    ).rejects.toThrow(/rope_scaling .* is not supported/);
    await expect(loadModel(await hfOnly({ head_dim: null, num_attention_heads: 3 }))).rejects.toThrow(
      /config.json: GPTConfig.dModel \(16\) must be divisible by nHeads \(3\)/,
    );
    await expect(loadModel(await hfOnly({ hidden_act: 'gelu' }))).rejects.toThrow(ModelFileError);
  });

  test('missing, unexpected and mis-shaped tensors are listed by name', async () => {
    const missing = await variant((m) => m.delete('model.layers.1.self_attn.k_proj.weight'));
    await expect(loadModel(missing)).rejects.toThrow(
      /missing tensors \(1\): model.layers.1.self_attn.k_proj.weight/,
    );
    const noHead = await variant((m) => m.delete('lm_head.weight'));
    await expect(loadModel(noHead)).rejects.toThrow(/tie_word_embeddings: true/);
    const extra = await variant((m) =>
      m.set('model.layers.2.mlp.up_proj.weight', m.get('model.layers.1.mlp.up_proj.weight')!),
    );
    await expect(loadModel(extra)).rejects.toThrow(
      /unexpected tensors \(1\): model.layers.2.mlp.up_proj.weight/,
    );
    const wrongShape = await variant((m) => {
      const e = m.get('model.norm.weight')!;
      m.set('model.norm.weight', { ...e, shape: [4, 4] });
    });
    await expect(loadModel(wrongShape)).rejects.toThrow(
      /model.norm.weight: expected \[16\], file has \[4,4\]/,
    );
    const wrongConfig = await variant(
      () => {},
      (c) => (c.kiln_config.nKvHeads = 4),
    );
    await expect(loadModel(wrongConfig)).rejects.toThrow(
      /k_proj.weight: expected \[16,16\], file has \[8,16\]/,
    );
  });

  test('a truncated safetensors file', async () => {
    const dir = await variant(() => {});
    const path = join(dir, 'model.safetensors');
    await truncate(path, (await readFile(path)).length - 100);
    await expect(loadModel(dir)).rejects.toThrow(SafetensorsError);
    await expect(loadModel(dir)).rejects.toThrow(/model.safetensors/);
  });

  test('bad save options', async () => {
    await expect(saveModel(model, freshDir(), { dtype: 'bfloat16' as never })).rejects.toThrow(
      /dtype must be 'float32' or 'float16'/,
    );
  });
});
