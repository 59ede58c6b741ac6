// Reward model directories: saved with Hugging Face's sequence-classifier names and config
// (score.weight, num_labels 1), loaded back to the same scores; a wrong directory is an error.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import { init, manualSeed, tensor } from '@kiln/tensor';
import { readSafetensorsFile } from '@kiln/tensor/node';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadRewardModel, RewardModel, saveRewardModel } from '../src/node.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-rm-'));
beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it.each(['gpt2', 'llama'] as const)('%s: round trip with HF names and config', async (family) => {
  manualSeed(1);
  const rm = RewardModel.fromCausalLM(
    new GPT({
      family,
      vocabSize: 20,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      nKvHeads: family === 'llama' ? 1 : undefined,
      dModel: 8,
    }),
    { std: 0.5 },
  );
  const dir = join(root, family);
  await saveRewardModel(rm, dir, { padTokenId: 0 });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  expect(config.architectures).toEqual([
    family === 'gpt2' ? 'GPT2ForSequenceClassification' : 'LlamaForSequenceClassification',
  ]);
  expect(config.num_labels).toBe(1);
  const names = [...(await readSafetensorsFile(join(dir, 'model.safetensors'))).tensors.keys()];
  expect(names).toContain('score.weight');
  expect(names).not.toContain('lm_head.weight');
  const again = await loadRewardModel(dir);
  const ids = tensor([[1, 2, 3, 4]], { dtype: 'int32' });
  const a = await noGrad(() => rm.score(ids)).data();
  const b = await noGrad(() => again.score(ids)).data();
  expect(Array.from(b)).toEqual(Array.from(a));
  expect(
    () =>
      new RewardModel(new GPT({ family, vocabSize: 20, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 8 })),
  ).toThrow(/use RewardModel.fromCausalLM/);
});
