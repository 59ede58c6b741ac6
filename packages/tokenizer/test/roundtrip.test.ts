// decode(encode(s)) === s for any well-formed string; lone surrogates become U+FFFD (documented);
// raw bytes survive encodeBytes/decodeBytes whether or not they are valid UTF-8; the stream
// decoder yields the same text as decode, only ever whole characters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../src/index.js';
import { loadOurs } from './helpers/openai.js';

const cl100k = loadOurs('cl100k_base');
const o200k = loadOurs('o200k_base');

// Units that stress the split patterns and UTF-8: emoji (with ZWJ and modifiers), CJK,
// combining marks, whitespace of every kind, digits of several scripts.
const unit = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('😀', '👨‍👩‍👧', '👍🏽', '🇯🇵', '中', '語', '한', 'e\u0301', '\u0308', '\u200d', '\ufeff'),
  fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', '\u0085', '     \n  '),
  fc.constantFrom('0', '123456', '١٢٣', '①', "'s", "'LL", '<|endoftext|>'),
);
const text = fc.array(unit, { maxLength: 16 }).map((parts) => parts.join(''));

describe('round trip', () => {
  it.each([
    ['cl100k', cl100k],
    ['o200k', o200k],
  ])('decode(encode(s)) === s for well-formed strings (%s)', (_, tokenizer) => {
    fc.assert(
      fc.property(text, (s) => {
        expect(tokenizer.decode(tokenizer.encode(s, { disallowedSpecial: [] }))).toBe(s);
        expect(tokenizer.decode(tokenizer.encodeOrdinary(s))).toBe(s);
      }),
      { numRuns: 1500 },
    );
  });

  it('encodes lone surrogates as U+FFFD, like TextEncoder', () => {
    const lone = fc
      .array(
        fc.oneof(
          text,
          fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
        ),
        {
          maxLength: 8,
        },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(lone, (s) => {
        const ids = cl100k.encode(s, { disallowedSpecial: [] });
        expect(cl100k.decode(ids)).toBe(s.toWellFormed());
        expect(ids).toEqual(cl100k.encode(s.toWellFormed(), { disallowedSpecial: [] }));
      }),
      { numRuns: 500 },
    );
    expect(cl100k.decode(cl100k.encode('a\ud800b'))).toBe('a\ufffdb');
  });

  it('keeps a leading byte order mark', () => {
    expect(cl100k.decode(cl100k.encode('\ufeffhello'))).toBe('\ufeffhello');
  });

  it('never loses bytes in encodeBytes/decodeBytes, valid UTF-8 or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), text, (bytes, s) => {
        const mixed = new Uint8Array([
          ...new TextEncoder().encode(s),
          ...bytes,
          ...new TextEncoder().encode(s),
        ]);
        expect(cl100k.decodeBytes(cl100k.encodeBytes(mixed))).toEqual(mixed);
        expect(o200k.decodeBytes(o200k.encodeBytes(bytes))).toEqual(bytes);
      }),
      { numRuns: 800 },
    );
  });

  it('encodes valid UTF-8 bytes exactly like the text', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(cl100k.encodeBytes(new TextEncoder().encode(s))).toEqual(cl100k.encodeOrdinary(s));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes invalid byte sequences to U+FFFD without throwing', () => {
    const ids = cl100k.encodeBytes(Uint8Array.of(0x68, 0x69, 0xff, 0xe4, 0xb8));
    expect(cl100k.decode(ids)).toBe('hi\ufffd\ufffd');
    expect(Array.from(cl100k.decodeBytes(ids))).toEqual([0x68, 0x69, 0xff, 0xe4, 0xb8]);
  });
});

describe('encodeStream', () => {
  it('gives the same ids as encodeOrdinary for any chunking (gpt2, cl100k, o200k)', async () => {
    const tokenizers = [loadOurs('gpt2'), cl100k, o200k];
    const words = fc.constantFrom(
      'word',
      'x',
      ' ',
      '  ',
      '\n',
      '\n\n',
      ' \n',
      '\r\n',
      '!',
      "'s",
      '12345',
      '中文',
      '😀',
      'É',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(words, { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }),
        async (parts, sizes) => {
          const full = parts.join('');
          const chunks: string[] = [];
          for (let i = 0, k = 0; i < full.length; k++) {
            chunks.push(full.slice(i, i + sizes[k % sizes.length]));
            i += sizes[k % sizes.length];
          }
          for (const tokenizer of tokenizers) {
            const streamed: number[] = [];
            for await (const ids of tokenizer.encodeStream(chunks)) streamed.push(...ids);
            expect(streamed).toEqual(tokenizer.encodeOrdinary(full));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('stream decoder', () => {
  it('emits only whole characters and adds up to decode()', () => {
    fc.assert(
      fc.property(text, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1 }), (s, steps) => {
        const ids = o200k.encode(s, { disallowedSpecial: [] });
        const decoder = o200k.createStreamDecoder();
        let out = '';
        let k = 0;
        for (let i = 0; i < ids.length; k++) {
          const n = steps[k % steps.length];
          const piece = n === 1 ? decoder.push(ids[i]) : decoder.push(ids.slice(i, i + n));
          // A chunk never ends inside a surrogate pair or with a replacement for a cut character.
          expect(piece.isWellFormed()).toBe(true);
          out += piece;
          i += n;
        }
        out += decoder.flush();
        expect(out).toBe(o200k.decode(ids));
      }),
      { numRuns: 500 },
    );
  });

  it('holds back a split emoji until its last byte arrives', () => {
    // "😉" is several byte-level tokens in gpt2-style vocabularies; here its bytes go in one by one.
    const bytesOf = Array.from(new TextEncoder().encode('😉'));
    const byteIds = bytesOf.map((b) => cl100k.tokenToId(Uint8Array.of(b))!);
    const decoder = cl100k.createStreamDecoder();
    expect(byteIds.slice(0, 3).map((id) => decoder.push(id))).toEqual(['', '', '']);
    expect(decoder.push(byteIds[3])).toBe('😉');
    expect(decoder.push(byteIds[0])).toBe('');
    expect(decoder.flush()).toBe('\ufffd');
  });
});

describe('vocabulary access', () => {
  it('maps tokens to ids and back in the byte-level spelling', () => {
    const id = cl100k.encode(' hello')[0];
    expect(cl100k.idToToken(id)).toBe('Ġhello');
    expect(cl100k.tokenToId('Ġhello')).toBe(id);
    expect(cl100k.tokenToId(new TextEncoder().encode(' hello'))).toBe(id);
    expect(new TextDecoder().decode(cl100k.idToBytes(id))).toBe(' hello');
    expect(cl100k.tokenToId('no such token at all')).toBeUndefined();
    expect(cl100k.idToToken(100261)).toBeUndefined(); // a hole between regular and special ids
  });

  it('throws a clear error for ids out of range', () => {
    expect(() => cl100k.decode([15339, 100277])).toThrow(
      /Token id 100277 at position 1 is not in the vocabulary/,
    );
    expect(() => cl100k.decode([-1])).toThrow(RangeError);
    expect(() => cl100k.decode([100261])).toThrow(/unused/);
    expect(() => cl100k.decode([1.5])).toThrow(/1.5/);
  });

  it('exposes the pattern and special tokens', () => {
    expect(cl100k.pattern).toContain('\\p{N}{1,3}');
    expect(cl100k.specialTokens.get('<|endoftext|>')).toBe(100257);
    expect(Tokenizer.prototype.encode).toBeTypeOf('function');
  });
});
