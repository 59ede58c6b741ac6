// The encoders compared: Kiln, tiktoken (Rust compiled to WASM), js-tiktoken (pure JS) and
// gpt-tokenizer (pure JS). `importLibrary` loads a library's code; `createEncoder` then loads the
// rank data and builds the encoder, which is what "cold" measures.
import { readFileSync } from 'node:fs';
import { type Encoding, tiktokenPath } from './data.js';

/** The peers, Kiln first. */
export const PEERS = ['kiln', 'tiktoken', 'js-tiktoken', 'gpt-tokenizer'] as const;
/** One of {@link PEERS}. */
export type Peer = (typeof PEERS)[number];

/** Encodes text to ids. */
export type Encode = (text: string) => ArrayLike<number>;

const PATTERN = { gpt2: 'gpt2', cl100k_base: 'cl100k', o200k_base: 'o200k' } as const;

/** Imports the library's code (not its rank data). */
export async function importLibrary(peer: Peer): Promise<void> {
  if (peer === 'kiln') await import('@kiln/tokenizer');
  else if (peer === 'tiktoken') await import('tiktoken');
  else if (peer === 'js-tiktoken') await import('js-tiktoken/lite');
  else await import('gpt-tokenizer/GptEncoding');
}

/** Loads the rank data of `encoding` and returns the peer's encode function. */
export async function createEncoder(peer: Peer, encoding: Encoding): Promise<Encode> {
  switch (peer) {
    case 'kiln': {
      const { OPENAI_SPECIAL_TOKENS, Tokenizer } = await import('@kiln/tokenizer');
      const tokenizer = Tokenizer.fromTiktoken(readFileSync(tiktokenPath(encoding)), {
        pattern: PATTERN[encoding],
        specialTokens: OPENAI_SPECIAL_TOKENS[encoding],
      });
      return (text) => tokenizer.encode(text);
    }
    case 'tiktoken': {
      const { get_encoding } = await import('tiktoken');
      const enc = get_encoding(encoding);
      return (text) => enc.encode(text);
    }
    case 'js-tiktoken': {
      const { Tiktoken } = await import('js-tiktoken/lite');
      const ranks = (await import(`js-tiktoken/ranks/${encoding}`)).default;
      const enc = new Tiktoken(ranks);
      return (text) => enc.encode(text);
    }
    case 'gpt-tokenizer': {
      const api = await import(`gpt-tokenizer/encoding/${encoding}`);
      return (text) => api.encode(text);
    }
  }
}
