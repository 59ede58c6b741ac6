// A byte-level tokenizer with no merges: every character of ASCII text is its own byte id, so
// tests can write expected token ids by hand; the special tokens of a chat template come after
// the 256 bytes, in the order given.
import { Tokenizer } from '@kiln/tokenizer';

/** The ChatML special tokens (ids 256, 257). */
export const CHATML_SPECIALS = ['<|im_start|>', '<|im_end|>'];
/** The Llama 3 special tokens (ids 256 … 259), and <|endoftext|> (260) for raw prompt–completion. */
export const LLAMA3_SPECIALS = [
  '<|begin_of_text|>',
  '<|start_header_id|>',
  '<|end_header_id|>',
  '<|eot_id|>',
];

/** A tokenizer whose ids are the UTF-8 bytes of the text, plus `specials` from id 256. */
export function byteTokenizer(specials: readonly string[]): Promise<Tokenizer> {
  return Tokenizer.train('x', { vocabSize: 256 + specials.length, specialTokens: [...specials] });
}

/** The UTF-8 bytes of `text` (the ids the byte tokenizer gives it). */
export const bytes = (text: string): number[] => [...new TextEncoder().encode(text)];
