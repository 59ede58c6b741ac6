// Small models and tokenizers saved to temporary directories, for the chat app's and run.mjs's
// tests: a byte-level BPE tokenizer trained on a few sentences (with chat special tokens) and a
// GPT-2- or Llama-family model with random weights, large enough that greedy decoding varies.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import { manualSeed } from '@kiln/tensor';
import { CHATML_TEMPLATE, LLAMA3_TEMPLATE, Tokenizer } from '@kiln/tokenizer';
import { GPT, type GPTConfig } from '@kiln/transformer';
import { saveModel } from '@kiln/transformer/node';

/** Training text with plain ASCII, accents, CJK, emoji and numbers, so merges cover several scripts. */
export const CORPUS = [
  'The whale swam past the ship, and the sailors watched it go.',
  'Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.',
  'Café crème, naïve façade: déjà vu! Über straße.',
  '鯨は海を泳ぐ。船乗りたちは見ていた。',
  'Numbers 12345 and 2026, emoji 🐋🌊 and a tab\there.',
  "It's the sea's way; they'll see what we've done.",
  // a space before a character whose first UTF-8 byte is 0xC2 or 0xEF, often: merges such as
  // 'Ġ' + 0xC2 are learned, so the split of U+0085 / U+FEFF (whitespace or not) shows in the ids
  'Signs © ® ± and ！ ？ ： fullwidth © ！ ® ？ ± ：',
].join('\n');

export type TemplateKind = 'chatml' | 'llama3';

/** A tokenizer of about 340 tokens trained on {@link CORPUS}, with `<|endoftext|>` and the template's special tokens. */
export async function trainTokenizer(
  kind: TemplateKind,
  pattern: 'gpt2' | 'cl100k' = 'gpt2',
): Promise<Tokenizer> {
  const template = kind === 'chatml' ? CHATML_TEMPLATE : LLAMA3_TEMPLATE;
  return Tokenizer.train(CORPUS.repeat(3), {
    vocabSize: 340,
    pattern,
    specialTokens: ['<|endoftext|>', ...template.specialTokens],
  });
}

/** A small config of either family with `vocabSize` ids. */
export function smallConfig(family: 'gpt2' | 'llama', vocabSize: number): GPTConfig {
  return {
    family,
    vocabSize,
    contextLength: 48,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: family === 'llama' ? 2 : 4,
    dModel: 32,
    // gpt2 ties its head to the embedding; an untied llama head tests the separate lm_head tensor
    ...(family === 'llama' ? { tieEmbeddings: false } : {}),
  };
}

/** A seeded model whose matrices are scaled up ×4 so that its next-token distribution is peaked. */
export function randomModel(config: GPTConfig, seed: number): GPT {
  manualSeed(seed);
  const model = new GPT(config);
  noGrad(() => {
    for (const [name, p] of model.namedParameters())
      if (name.endsWith('weight') && p.ndim === 2) p.assign(p.mul(4));
  });
  return model;
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kiln-chat-${prefix}-`));
}

/** Saves `model` (in `dtype`) and `tokenizer` into a new temporary model directory. */
export async function saveCheckpoint(
  model: GPT,
  tokenizer: Tokenizer,
  dtype: 'float32' | 'float16',
  prefix: string,
): Promise<string> {
  const dir = await tempDir(prefix);
  await saveModel(model, dir, { dtype });
  await tokenizer.save(join(dir, 'tokenizer.json'));
  return dir;
}
