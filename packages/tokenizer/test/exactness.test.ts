// Identical ids to tiktoken for gpt2, cl100k_base and o200k_base, with the rank files loaded
// through `fromTiktoken`. Expected ids come from tiktoken itself (WASM) or from vectors
// published in tiktoken's README and tests.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EncodingName, firstDifference, loadOracle, loadOurs, mobyDick } from './helpers/openai.js';

const ENCODINGS: EncodingName[] = ['gpt2', 'cl100k_base', 'o200k_base'];

// Strings from tiktoken's and minbpe's test suites, plus the cases where regex engines differ
// (Unicode whitespace, case folding of contractions, CRLF runs, digits in other scripts).
const VECTORS = [
  '',
  'hello world',
  'hello world!!!? (안녕하세요!) lol123 😉',
  'rer',
  "'rer",
  'today\n ',
  'today\n \n',
  'today\n  \n',
  '   hello',
  'hello   ',
  'a\n\n\nb',
  '\r\n\r\n  \r\n',
  "I'm they'RE we'LL it'S You'd ſ'ſ 'K",
  "don'tstop DON'T Don'Tstop",
  'Ünïcödé façade naïve',
  '1234567890 ١٢٣٤ ①②③ ²³',
  'CamelCaseWords and HTTPServerError',
  'tabs\tand\u00a0nbsp\u3000ideographic\u2028line\u0085nel\ufeffbom',
  'emoji 👨‍👩‍👧‍👦 🇺🇸 ❤️‍🔥 skin 👍🏽',
  'combining e\u0301 a\u0308 \u20dd',
  'https://example.com/path/to?x=1&y=2#frag',
  'def f(x):\n    return x ** 2  # square\n',
  '<|endoftext|> is text here',
  '中文字符和日本語のテキスト',
  '\u0000\u0001\u007f\u0080\u00ad',
];

describe.each(ENCODINGS)('%s', (name) => {
  const ours = loadOurs(name);
  const oracle = loadOracle(name);

  it('matches tiktoken on the whole of Moby Dick', () => {
    const text = mobyDick();
    const expected = oracle.encode_ordinary(text);
    const actual = ours.encodeOrdinary(text);
    expect(firstDifference(actual, expected)).toBe(-1);
    expect(actual.length).toBe(expected.length);
  });

  it('gives the same ids when Moby Dick is streamed in byte chunks', async () => {
    const bytes = new TextEncoder().encode(mobyDick());
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 65_537) yield bytes.subarray(i, i + 65_537);
    }
    const streamed: number[] = [];
    for await (const ids of ours.encodeStream(chunks())) streamed.push(...ids);
    expect(firstDifference(streamed, oracle.encode_ordinary(mobyDick()))).toBe(-1);
  });

  it('matches tiktoken on the published test strings', () => {
    for (const text of VECTORS) {
      expect(ours.encodeOrdinary(text), JSON.stringify(text)).toEqual(
        Array.from(oracle.encode_ordinary(text)),
      );
    }
  });

  it('matches tiktoken on random text from a tricky alphabet', () => {
    const alphabet = [
      ...'aAzZsSkK ſK\'’"\n\r\t\u000b\u00a0\u0085\ufeff\u3000\u2028\u200b09١①²!?.,;:/\\-_()<>|`éÉßÆ中文語한😀👍🏽🏽\u0301\u0308\u0000\u007f',
      "'s",
      "'LL",
      "'ve",
      '  ',
      '\r\n',
      '\n\n',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 24 }), (parts) => {
        const text = parts.join('');
        expect(ours.encodeOrdinary(text)).toEqual(Array.from(oracle.encode_ordinary(text)));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches tiktoken on long runs and mixed scripts from Moby Dick slices', () => {
    const text = mobyDick();
    for (let start = 0; start < text.length; start += 97_003) {
      const slice = `${text.slice(start, start + 2000).toUpperCase()}   \n\n  ${'='.repeat(300)}${' '.repeat(257)}x`;
      expect(ours.encodeOrdinary(slice)).toEqual(Array.from(oracle.encode_ordinary(slice)));
    }
  });
});

describe('published vectors', () => {
  // tiktoken's README and test_encoding.py.
  it('encodes "hello world"', () => {
    expect(loadOurs('gpt2').encode('hello world')).toEqual([31373, 995]);
    expect(loadOurs('cl100k_base').encode('hello world')).toEqual([15339, 1917]);
    expect(loadOurs('o200k_base').encode('hello world')).toEqual([24912, 2375]);
  });

  it('decodes them back', () => {
    expect(loadOurs('cl100k_base').decode([15339, 1917])).toBe('hello world');
    expect(loadOurs('gpt2').decode([31373, 995])).toBe('hello world');
  });

  it('has the vocabulary sizes of tiktoken (n_vocab)', () => {
    expect(loadOurs('gpt2').vocabSize).toBe(50257);
    expect(loadOurs('cl100k_base').vocabSize).toBe(100277);
    expect(loadOurs('o200k_base').vocabSize).toBe(200019);
  });
});
