import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePattern, Tokenizer, TokenizerError, type TrainProgress } from '../src/index.js';
import { mobyDick } from './helpers/openai.js';

const corpus = mobyDick().slice(20_000, 120_000);

/** Merges of a trained tokenizer as [left bytes, right bytes] strings, for comparison. */
function mergesOf(tokenizer: Tokenizer): string[] {
  const json = tokenizer.toHuggingFace();
  return json.model.merges;
}

/**
 * A deliberately naive trainer (recounts every pair after every merge) with the documented
 * tie-breaking rule: highest count, then smallest left id, then smallest right id.
 */
function naiveMerges(text: string, merges: number, minFrequency: number): [number, number][] {
  const counts = new Map<string, number>();
  for (const piece of text.match(resolvePattern('cl100k').regex) ?? [])
    counts.set(piece, (counts.get(piece) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ ids: Array.from(new TextEncoder().encode(w)), count: c }));
  const learned: [number, number][] = [];
  for (let next = 256; learned.length < merges; next++) {
    const pairs = new Map<string, number>();
    for (const { ids, count } of words) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = `${ids[i]},${ids[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 0;
    for (const [key, count] of pairs) {
      const [a, b] = key.split(',').map(Number);
      if (
        count > bestCount ||
        (count === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))
      ) {
        best = [a, b];
        bestCount = count;
      }
    }
    if (!best || bestCount < minFrequency) break;
    learned.push(best);
    for (const word of words) {
      const out: number[] = [];
      for (let i = 0; i < word.ids.length; i++) {
        if (i + 1 < word.ids.length && word.ids[i] === best[0] && word.ids[i + 1] === best[1]) {
          out.push(next);
          i++;
        } else {
          out.push(word.ids[i]);
        }
      }
      word.ids = out;
    }
  }
  return learned;
}

describe('training', () => {
  it('learns the same merges as a naive recount-everything trainer', async () => {
    const text = corpus.slice(0, 30_000);
    const tokenizer = await Tokenizer.train(text, { vocabSize: 256 + 200, minFrequency: 2 });
    const expected = naiveMerges(text, 200, 2);
    const actual = (tokenizer as unknown as { vocab: { merges: [number, number][] } }).vocab.merges;
    expect(actual.map((m) => [...m])).toEqual(expected);
  });

  it('is deterministic and independent of how the corpus is chunked', async () => {
    const options = { vocabSize: 1000 };
    const whole = mergesOf(await Tokenizer.train(corpus, options));
    expect(mergesOf(await Tokenizer.train(corpus, options))).toEqual(whole);
    expect(mergesOf(await Tokenizer.train([corpus], options))).toEqual(whole);
    // Byte chunks that cut words and even UTF-8 sequences in half.
    const bytes = new TextEncoder().encode(corpus);
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 4093) yield bytes.subarray(i, i + 4093);
    }
    expect(mergesOf(await Tokenizer.train(chunks(), options))).toEqual(whole);
    const strings = [];
    for (let i = 0; i < corpus.length; i += 777) strings.push(corpus.slice(i, i + 777));
    expect(mergesOf(await Tokenizer.train(strings.values(), options))).toEqual(whole);
  });

  it('chunked streams give the same word counts for any chunk boundaries', async () => {
    const text = "It's  a test.\n\nWith 12345 numbers, CamelCase, ünïcödé 中文 😀  and   spaces\r\n  end ";
    const reference = mergesOf(await Tokenizer.train(text.repeat(3), { vocabSize: 300, minFrequency: 1 }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1 }), async (sizes) => {
        const full = text.repeat(3);
        const parts: string[] = [];
        for (let i = 0, k = 0; i < full.length; k++) {
          const n = sizes[k % sizes.length];
          parts.push(full.slice(i, i + n));
          i += n;
        }
        expect(mergesOf(await Tokenizer.train(parts.values(), { vocabSize: 300, minFrequency: 1 }))).toEqual(
          reference,
        );
      }),
      { numRuns: 40 },
    );
  });

  it('round-trips text and compresses it', async () => {
    const tokenizer = await Tokenizer.train(corpus, { vocabSize: 2000, pattern: 'o200k' });
    expect(tokenizer.vocabSize).toBe(2000);
    const sample = mobyDick().slice(500_000, 520_000);
    const ids = tokenizer.encode(sample);
    expect(tokenizer.decode(ids)).toBe(sample);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(sample).length / 2.5);
    expect(tokenizer.decode(tokenizer.encode('ünïcödé 中文 😀'))).toBe('ünïcödé 中文 😀');
  });

  it('puts special tokens last and never learns their text', async () => {
    const text = `${corpus.slice(0, 20_000)}<|endoftext|>`.repeat(3);
    const tokenizer = await Tokenizer.train(text, {
      vocabSize: 600,
      specialTokens: ['<|endoftext|>', '<|pad|>'],
    });
    expect(tokenizer.specialTokens.get('<|endoftext|>')).toBe(598);
    expect(tokenizer.specialTokens.get('<|pad|>')).toBe(599);
    expect(tokenizer.vocabSize).toBe(600);
    expect(tokenizer.tokenToId('<|')).toBeUndefined();
    expect(tokenizer.encode('<|endoftext|>', { allowedSpecial: 'all' })).toEqual([598]);
  });

  it('stops early when no pair is frequent enough', async () => {
    const tokenizer = await Tokenizer.train('abcabc xyz', { vocabSize: 1000, minFrequency: 2 });
    expect(tokenizer.mergeCount).toBe(2); // "ab" (2×), then "abc" (2×)
    expect(tokenizer.vocabSize).toBe(258);
  });

  it('reports progress', async () => {
    const seen: TrainProgress[] = [];
    await Tokenizer.train(corpus, { vocabSize: 2300, onProgress: (p) => seen.push(p) });
    expect(seen[0].phase).toBe('counting');
    expect(seen.some((p) => p.phase === 'merging' && p.merges === 1000)).toBe(true);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ phase: 'done', merges: 2044, targetMerges: 2044, charsRead: corpus.length });
  });

  it('rejects a vocabulary too small for the bytes and special tokens', async () => {
    await expect(Tokenizer.train('abc', { vocabSize: 256, specialTokens: ['<|x|>'] })).rejects.toThrow(
      /at least 256 \(one token per byte\) \+ 1 special tokens = 257; got 256/,
    );
    await expect(Tokenizer.train('abc', { vocabSize: 300.5 })).rejects.toThrow(TokenizerError);
    await expect(Tokenizer.train(42 as never, { vocabSize: 300 })).rejects.toThrow(/training corpus/);
  });
});
