// The special tokens of OpenAI's encodings. The rank files do not contain them, so they are
// needed next to the file: `Tokenizer.fromTiktoken(file, { pattern: 'cl100k', specialTokens:
// OPENAI_SPECIAL_TOKENS.cl100k_base })`.

/** Special tokens of OpenAI's published encodings, by encoding name. */
export const OPENAI_SPECIAL_TOKENS = {
  gpt2: { '<|endoftext|>': 50256 },
  r50k_base: { '<|endoftext|>': 50256 },
  p50k_base: { '<|endoftext|>': 50256 },
  cl100k_base: {
    '<|endoftext|>': 100257,
    '<|fim_prefix|>': 100258,
    '<|fim_middle|>': 100259,
    '<|fim_suffix|>': 100260,
    '<|endofprompt|>': 100276,
  },
  o200k_base: { '<|endoftext|>': 199999, '<|endofprompt|>': 200018 },
} as const satisfies Record<string, Record<string, number>>;
