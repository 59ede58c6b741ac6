// The whole example in seconds: a tiny base made here (tokenizer + GPT), a few steps of full
// fine-tuning and of LoRA on the CPU backend, the summary and every output checked, then a
// second run that reuses the finished stages.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { Tokenizer } from '@kiln/tokenizer';
import { GPT } from '@kiln/transformer';
import { saveModel } from '@kiln/transformer/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { basePaths, checkBase } from '../src/base.js';
import { DEFAULT_CONFIG, type FinetuneConfig, mergeConfig, withSteps } from '../src/config.js';
import { loadMobyDick } from '../src/corpus.js';
import { runFinetune, type Summary } from '../src/run.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-finetune-'));
const base = basePaths(join(root, 'pretrain'));
const outDir = join(root, 'finetune');
const D = 16;
const RANK = 4;
const { text } = await loadMobyDick();

const train = { batchSize: 4, logInterval: 1, checkpointInterval: 2 };
const config: FinetuneConfig = withSteps(
  mergeConfig(
    DEFAULT_CONFIG,
    {
      data: { trainExamples: 48, heldOutExamples: 9, maxChars: 12 },
      full: { train },
      lora: { rank: RANK, alpha: 8, targets: 'all-linear', train },
      eval: { maxTokens: 3, batchSize: 4, samples: 2 },
    },
    'test config',
  ),
  3,
);

beforeAll(async () => {
  await init({ backend: 'cpu' });
  mkdirSync(base.dir, { recursive: true });
  const tokenizer = await Tokenizer.train(text.slice(0, 100_000), {
    vocabSize: 320,
    pattern: 'gpt2',
    specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  });
  await tokenizer.save(base.tokenizerPath);
  manualSeed(0);
  const model = new GPT({
    family: 'gpt2',
    vocabSize: tokenizer.vocabSize,
    contextLength: 48,
    nLayers: 1,
    nHeads: 2,
    dModel: D,
    tieEmbeddings: false,
  });
  await saveModel(model, base.modelDir);
  model.dispose();
});

describe('examples/finetune end to end', () => {
  let first: Summary;

  it('trains both runs and writes the summary with every field', async () => {
    const lines: string[] = [];
    first = await runFinetune({
      config,
      base,
      outDir,
      text,
      log: (l = '') => lines.push(l),
      progress: false,
    });
    const summary = JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')) as Summary;
    expect(summary).toEqual(JSON.parse(JSON.stringify(first)));
    for (const run of [summary.base, summary.full, summary.lora]) {
      expect(run.accuracy).toBeGreaterThanOrEqual(0);
      expect(run.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(run.loss) && run.loss > 0).toBe(true);
      expect(Object.keys(run.byTask).sort()).toEqual([...config.data.tasks].sort());
    }
    // Trainable parameters, counted independently of the code under test: every parameter for
    // full fine-tuning; for LoRA on GPT-2's four linear layers per block (qkv d→3d, o d→d, fc
    // d→4d, proj 4d→d), r·(in + out) each: r·d·(4 + 2 + 5 + 5).
    const V = 320;
    const params =
      V * D +
      48 * D +
      (3 * D * D + 3 * D) +
      (D * D + D) +
      (4 * D * D + 4 * D) +
      (4 * D * D + D) +
      3 * 2 * D +
      V * D;
    expect(summary.base.parameters).toBe(params);
    expect(summary.full.trainableParams).toBe(params);
    expect(summary.lora.trainableParams).toBe(RANK * D * 16);
    // AdamW keeps two float32 moments per trained element, and nothing for frozen ones.
    expect(summary.full.optimizerBytes).toBe(2 * 4 * params);
    expect(summary.lora.optimizerBytes).toBe(2 * 4 * RANK * D * 16);
    for (const run of [summary.full, summary.lora]) {
      expect(run.steps).toBe(3);
      expect(run.tokensPerSecond).toBeGreaterThan(0);
    }
    expect(summary.samples).toHaveLength(2);
    expect(summary.commonest.accuracy).toBeGreaterThanOrEqual(0);
    expect(Object.keys(summary.commonest.answers).sort()).toEqual([...config.data.tasks].sort());
    expect(summary.data.trainConversations).toBe(48);
    expect(summary.data.heldOutConversations).toBe(9);
    expect(summary.reused).toEqual({ base: false, full: false, lora: false });

    // The outputs: data as JSONL, metrics, plots, checkpoints, the model directory, the adapter.
    const trainLines = readFileSync(join(outDir, 'data/train.jsonl'), 'utf8').trim().split('\n');
    expect(trainLines).toHaveLength(48);
    expect(JSON.parse(trainLines[0]).messages.map((m: { role: string }) => m.role)).toEqual([
      'user',
      'assistant',
    ]);
    for (const file of [
      'base/model/model.safetensors',
      'base/model/tokenizer.json',
      'full/metrics.jsonl',
      'full/loss.svg',
      'full/model/model.safetensors',
      'full/model/config.json',
      'full/model/tokenizer.json',
      'lora/metrics.jsonl',
      'lora/loss.svg',
      'lora/adapter/adapter_config.json',
      'lora/adapter/adapter_model.safetensors',
    ]) {
      expect(existsSync(join(outDir, file)), file).toBe(true);
    }
    const adapterConfig = JSON.parse(readFileSync(join(outDir, 'lora/adapter/adapter_config.json'), 'utf8'));
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: RANK, lora_alpha: 8 });
    expect(lines.some((l) => l.startsWith('full: held-out accuracy'))).toBe(true);
  });

  it('reuses finished stages on the next run, with the same numbers', async () => {
    const again = await runFinetune({ config, base, outDir, text, progress: false });
    expect(again.reused).toEqual({ base: true, full: true, lora: true });
    expect({ ...again, reused: first.reused }).toEqual(first);
    // A changed LoRA config redoes LoRA alone.
    const changed = mergeConfig(config, { lora: { rank: 2 } }, 'test');
    const third = await runFinetune({ config: changed, base, outDir, text, progress: false });
    expect(third.reused).toEqual({ base: true, full: true, lora: false });
    expect(third.lora.trainableParams).toBe(2 * D * 16);
  });

  it('says how to make a missing base', async () => {
    const message = await checkBase(basePaths(join(root, 'nowhere')), root);
    expect(message).toMatch(/There is no base model in .*nowhere/);
    expect(message).toMatch(/pnpm --filter @kiln\/example-pretrain start -- --out/);
    expect(message).toMatch(/--pretrain/);
    await expect(
      runFinetune({ config, base: basePaths(join(root, 'nowhere')), outDir, text }),
    ).rejects.toThrow(/There is no base model/);
  });
});
