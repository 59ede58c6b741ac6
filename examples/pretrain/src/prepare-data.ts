// Data preparation, done once per output directory: train a byte-level BPE tokenizer on the
// corpus, tokenize the corpus into a token file, and reuse both on later runs (and on --resume,
// which must see exactly the same tokens). A changed tokenizer config (or special-token list)
// retrains both.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@kiln/tokenizer';
import { crc32, readTokenFile, type TokenFile, writeTokenFile } from '@kiln/trainer/node';
import type { PretrainConfig } from './config.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENS_FILE = 'moby-dick.kilntok';
/** Separates documents. */
export const END_OF_TEXT = '<|endoftext|>';
/**
 * The special tokens the tokenizer reserves: end-of-text, and ChatML's turn markers, so the
 * pretrained base can be chat-fine-tuned with the standard template (as base models that ship
 * reserved tokens can). The book never contains them; they cost two merges of the vocabulary.
 */
export const SPECIAL_TOKENS = [END_OF_TEXT, '<|im_start|>', '<|im_end|>'] as const;

export interface PreparedData {
  tokenizer: Tokenizer;
  tokens: TokenFile;
  /** Seconds spent (0 when both files were reused). */
  seconds: number;
  reused: boolean;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A short fingerprint of a tokenizer.json, stored in the token file so the two stay paired. */
function fingerprint(json: string): string {
  return crc32(new TextEncoder().encode(json)).toString(16).padStart(8, '0');
}

export async function prepareData(
  outDir: string,
  corpus: { text: string; source: string },
  data: PretrainConfig['data'],
  log: (line: string) => void,
): Promise<PreparedData> {
  const start = performance.now();
  const tokenizerPath = join(outDir, TOKENIZER_FILE);
  const tokensPath = join(outDir, TOKENS_FILE);
  if ((await exists(tokenizerPath)) && (await exists(tokensPath))) {
    const json = await readFile(tokenizerPath, 'utf8');
    const tokens = await readTokenFile(tokensPath);
    const meta = tokens.header.metadata;
    if (
      meta.tokenizerHash === fingerprint(json) &&
      meta.vocabSize === data.vocabSize &&
      meta.pattern === data.pattern &&
      JSON.stringify(meta.specialTokens) === JSON.stringify(SPECIAL_TOKENS)
    ) {
      log(`reusing ${tokenizerPath} and ${tokensPath}`);
      return { tokenizer: await Tokenizer.load(tokenizerPath), tokens, seconds: 0, reused: true };
    }
    log('the tokenizer config changed: training a new tokenizer');
  }
  const tokenizer = await Tokenizer.train(corpus.text, {
    vocabSize: data.vocabSize,
    pattern: data.pattern,
    specialTokens: [...SPECIAL_TOKENS],
  });
  await tokenizer.save(tokenizerPath);
  const json = await readFile(tokenizerPath, 'utf8');
  const ids = tokenizer.encode(corpus.text);
  await writeTokenFile(tokensPath, ids, {
    vocabSize: tokenizer.vocabSize,
    metadata: {
      tokenizer: TOKENIZER_FILE,
      tokenizerHash: fingerprint(json),
      vocabSize: data.vocabSize,
      pattern: data.pattern,
      specialTokens: [...SPECIAL_TOKENS],
      source: corpus.source,
      sourceBytes: new TextEncoder().encode(corpus.text).length,
    },
  });
  const seconds = (performance.now() - start) / 1000;
  log(
    `trained a ${tokenizer.vocabSize}-token BPE tokenizer and tokenized the corpus in ${seconds.toFixed(1)} s`,
  );
  return { tokenizer, tokens: await readTokenFile(tokensPath), seconds, reused: false };
}
