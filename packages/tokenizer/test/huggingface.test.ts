// tokenizer.json interop, checked with Hugging Face's own `tokenizers` package (native).
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerFormatError } from '../src/index.js';
import { loadOracle, loadOurs, mobyDick } from './helpers/openai.js';

interface HfTokenizer {
  encode(text: string): Promise<{ getIds(): number[] }>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
}
const require = createRequire(import.meta.url);
const hf = require('tokenizers') as { Tokenizer: { fromString(json: string): HfTokenizer } };

const SAMPLES = [
  mobyDick().slice(100_000, 130_000),
  "Hello   world!\n\n  It's 2024: naïve café, 中文, emoji 😀👍🏽, tabs\tand CRLF\r\n  done  ",
  '    def f(x):\n        return x**2  # comment\n',
];

async function hfIds(tokenizer: HfTokenizer, text: string): Promise<number[]> {
  return (await tokenizer.encode(text)).getIds();
}

describe('a trained tokenizer exported with toHuggingFace()', () => {
  let ours: Tokenizer;
  let theirs: HfTokenizer;
  beforeAll(async () => {
    ours = await Tokenizer.train(mobyDick().slice(0, 300_000), {
      vocabSize: 3000,
      specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    });
    theirs = hf.Tokenizer.fromString(JSON.stringify(ours.toHuggingFace()));
  });

  it('loads in Hugging Face tokenizers and gives the same ids', async () => {
    for (const text of SAMPLES) expect(await hfIds(theirs, text)).toEqual(ours.encode(text));
  });

  it('gives the same ids for special tokens (Hugging Face always matches added tokens)', async () => {
    const text = '<|im_start|>user\nhi<|im_end|><|endoftext|>';
    expect(await hfIds(theirs, text)).toEqual(ours.encode(text, { allowedSpecial: 'all' }));
  });

  it('decodes the same way', async () => {
    const ids = ours.encode(SAMPLES[1]);
    expect(await theirs.decode(ids, false)).toBe(SAMPLES[1]);
  });

  it('loads back here with identical behaviour', () => {
    const again = Tokenizer.fromHuggingFace(JSON.stringify(ours.toHuggingFace()));
    expect(again.vocabSize).toBe(ours.vocabSize);
    expect(again.pattern).toBe(ours.pattern);
    for (const text of SAMPLES) expect(again.encode(text)).toEqual(ours.encode(text));
    expect(again.toHuggingFace()).toEqual(ours.toHuggingFace());
  });

  it('saves and loads a file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-hf-')), 'tokenizer.json');
    await ours.save(path);
    expect(JSON.parse(readFileSync(path, 'utf8')).model.type).toBe('BPE');
    const loaded = await Tokenizer.load(path);
    expect(loaded.encode(SAMPLES[1])).toEqual(ours.encode(SAMPLES[1]));
  });
});

describe('OpenAI vocabularies through tokenizer.json', () => {
  it.each(['gpt2', 'cl100k_base'] as const)('%s: exported, Hugging Face gives tiktoken ids', async (name) => {
    const json = loadOurs(name).toHuggingFace();
    const theirs = hf.Tokenizer.fromString(JSON.stringify(json));
    const reloaded = Tokenizer.fromHuggingFace(json);
    const oracle = loadOracle(name);
    for (const text of SAMPLES) {
      const expected = Array.from(oracle.encode_ordinary(text));
      expect(await hfIds(theirs, text)).toEqual(expected);
      expect(reloaded.encodeOrdinary(text)).toEqual(expected);
    }
  });

  it('reads a GPT-2 style file: ByteLevel pre-tokenizer, "a b" merges, <|endoftext|> in vocab and added_tokens', () => {
    const json = loadOurs('gpt2').toHuggingFace();
    expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', use_regex: true });
    json.model.vocab['<|endoftext|>'] = 50256;
    const gpt2 = Tokenizer.fromHuggingFace(json);
    expect(gpt2.encode('hello world')).toEqual([31373, 995]);
    expect(gpt2.encode('<|endoftext|>', { allowedSpecial: 'all' })).toEqual([50256]);
    expect(gpt2.decode([50256])).toBe('<|endoftext|>');
  });

  it('reads merges written as pairs (newer tokenizers versions)', () => {
    const json = structuredClone(loadOurs('gpt2').toHuggingFace()) as unknown as {
      model: { merges: unknown[] };
    };
    json.model.merges = (json.model.merges as string[]).map((m) => m.split(' '));
    expect(Tokenizer.fromHuggingFace(json).encode('hello world')).toEqual([31373, 995]);
  });
});

describe('invalid tokenizer.json', () => {
  let small: Tokenizer;
  beforeAll(async () => {
    small = await Tokenizer.train(SAMPLES[0], { vocabSize: 300 });
  });
  const good = () => structuredClone(small.toHuggingFace()) as unknown as Record<string, any>;
  const cases: [string, (json: Record<string, any>) => void, RegExp][] = [
    ['WordPiece', (j) => void (j.model.type = 'WordPiece'), /not BPE/],
    ['a normalizer', (j) => void (j.normalizer = { type: 'NFC' }), /normalizers are not supported/],
    ['byte fallback', (j) => void (j.model.byte_fallback = true), /byte_fallback/],
    [
      'a Metaspace pre-tokenizer',
      (j) => void (j.pre_tokenizer = { type: 'Metaspace' }),
      /"Metaspace" is not/,
    ],
    ['a bad merge', (j) => j.model.merges.push('Ġzzzq Ġqqqz'), /missing from the vocab/],
    ['a merge that is not a pair', (j) => j.model.merges.push('a b c'), /is not a pair/],
    ['a non byte-level vocab entry', (j) => void (j.model.vocab['▁hello'] = 6000), /byte-level alphabet/],
    ['no model', (j) => delete j.model, /"model" is missing/],
  ];
  it.each(cases)('rejects %s with a clear message', (_, mutate, message) => {
    const input = good();
    mutate(input);
    expect(() => Tokenizer.fromHuggingFace(input)).toThrow(TokenizerFormatError);
    expect(() => Tokenizer.fromHuggingFace(input)).toThrow(message);
  });

  it('rejects text that is not JSON', () => {
    expect(() => Tokenizer.fromHuggingFace('{oops')).toThrow(/not JSON/);
  });

  it('asks for a pattern when loading a file that is not JSON', async () => {
    const { writeFileSync } = await import('node:fs');
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-hf-')), 'x.tiktoken');
    writeFileSync(path, 'IQ== 0\n');
    await expect(Tokenizer.load(path)).rejects.toThrow(/pass \{ pattern \}/);
  });
});
