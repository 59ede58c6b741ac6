// Special tokens follow tiktoken: disallowed by default, encoded as ids when allowed, plain text
// when excluded from the disallowed set. Expected ids come from tiktoken.
import { describe, expect, it } from 'vitest';
import { DisallowedSpecialTokenError, TokenizerError } from '../src/index.js';
import { loadOracle, loadOurs } from './helpers/openai.js';

// The special-token document from minbpe's tests.
const DOCUMENT =
  '<|endoftext|>Hello world this is one document\n<|endoftext|>And this is another document\n' +
  '<|endoftext|><|fim_prefix|>And this one has<|fim_suffix|> tokens.<|fim_middle|> FIM.\n' +
  '<|endoftext|>Last document!!! 👋<|endofprompt|>';

describe('special tokens (cl100k_base)', () => {
  const ours = loadOurs('cl100k_base');
  const oracle = loadOracle('cl100k_base');

  it('rejects special-token text by default, naming the token and where it is', () => {
    expect(() => ours.encode('hi <|endoftext|> there')).toThrow(DisallowedSpecialTokenError);
    try {
      ours.encode('hi <|fim_prefix|>');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DisallowedSpecialTokenError);
      expect((error as DisallowedSpecialTokenError).token).toBe('<|fim_prefix|>');
      expect((error as DisallowedSpecialTokenError).index).toBe(3);
      expect((error as Error).message).toContain('allowedSpecial');
    }
    expect(() => oracle.encode('hi <|endoftext|> there')).toThrow();
  });

  it("encodes allowed special tokens as their ids, like tiktoken's allowed_special='all'", () => {
    expect(ours.encode(DOCUMENT, { allowedSpecial: 'all' })).toEqual(
      Array.from(oracle.encode(DOCUMENT, 'all')),
    );
  });

  it('allows a subset; the others still throw', () => {
    const text = '<|endoftext|>a<|fim_prefix|>';
    expect(() => ours.encode(text, { allowedSpecial: ['<|endoftext|>'] })).toThrow(
      DisallowedSpecialTokenError,
    );
    const mixed = ours.encode(text, { allowedSpecial: ['<|endoftext|>'], disallowedSpecial: [] });
    expect(mixed).toEqual(Array.from(oracle.encode(text, ['<|endoftext|>'], [])));
    expect(mixed[0]).toBe(100257);
  });

  it('encodes special-token text as ordinary text when not disallowed, like encodeOrdinary', () => {
    const expected = Array.from(oracle.encode_ordinary(DOCUMENT));
    expect(ours.encode(DOCUMENT, { disallowedSpecial: [] })).toEqual(expected);
    expect(ours.encodeOrdinary(DOCUMENT)).toEqual(expected);
  });

  it('decodes special ids to their text', () => {
    const ids = ours.encode(DOCUMENT, { allowedSpecial: 'all' });
    expect(ours.decode(ids)).toBe(DOCUMENT);
    expect(ours.isSpecialId(100257)).toBe(true);
    expect(ours.idToToken(100257)).toBe('<|endoftext|>');
    expect(ours.tokenToId('<|endofprompt|>')).toBe(100276);
  });

  it('rejects names that are not special tokens of this tokenizer', () => {
    expect(() => ours.encode('x', { allowedSpecial: ['<|im_start|>'] })).toThrow(TokenizerError);
  });

  it('returns a Uint32Array when asked', () => {
    const ids = ours.encode('hello world', { output: 'uint32' });
    expect(ids).toBeInstanceOf(Uint32Array);
    expect(Array.from(ids)).toEqual([15339, 1917]);
  });

  it('encodes batches', () => {
    const texts = ['hello world', '?', DOCUMENT];
    expect(ours.encodeBatch(texts, { allowedSpecial: 'all' })).toEqual(
      texts.map((t) => Array.from(oracle.encode(t, 'all'))),
    );
    expect(ours.countTokens(DOCUMENT, { allowedSpecial: 'all' })).toBe(oracle.encode(DOCUMENT, 'all').length);
  });
});
