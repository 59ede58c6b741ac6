// Samples: continuations of a few prompts by the trained model, streamed to the terminal and
// written to samples.txt.
import { writeFile } from 'node:fs/promises';
import type { Tokenizer } from '@kiln/tokenizer';
import type { GPT } from '@kiln/transformer';
import type { PretrainConfig } from './config.js';

export async function writeSamples(
  model: GPT,
  tokenizer: Tokenizer,
  options: PretrainConfig['sample'],
  path: string,
  write: (text: string) => void,
): Promise<void> {
  const { prompts, maxTokens, temperature, topK, seed } = options;
  const blocks: string[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const decoder = tokenizer.createStreamDecoder();
    let text = prompt;
    write(`\n> ${prompt}`);
    for await (const id of model.generate(tokenizer.encode(prompt), {
      maxTokens,
      temperature,
      topK,
      seed: seed + i,
    })) {
      const piece = decoder.push(id);
      text += piece;
      write(piece);
    }
    const rest = decoder.flush();
    text += rest;
    write(`${rest}\n`);
    blocks.push(text);
  }
  const header = `# Samples (temperature ${temperature}, top-k ${topK}, ${maxTokens} tokens each)\n\n`;
  await writeFile(path, `${header}${blocks.map((b) => `${b}\n`).join('\n---\n\n')}`);
}
