// Exact-match accuracy: the documented normalisation, batching of the caller's generator,
// answers as token ids cut at a stop token, and per-example records.
import { describe, expect, it } from 'vitest';
import { exactMatchAccuracy, normalizeAnswer } from '../src/index.js';

describe('normalizeAnswer', () => {
  it.each([
    ['  Paris.\n', 'paris'],
    ['The   answer\tis\n42!', 'the answer is 42'],
    ['Yes?!', 'yes'],
    ['Ｆｕｌｌ ｗｉｄｔｈ １２', 'full width 12'], // NFKC
    ['3.5', '3.5'], // only trailing punctuation goes
    ['ok .', 'ok'],
    ['', ''],
  ])('%j → %j', (input, output) => {
    expect(normalizeAnswer(input)).toBe(output);
  });

  it('keeps differences of content', () => {
    expect(normalizeAnswer('4 2')).not.toBe(normalizeAnswer('42'));
    expect(normalizeAnswer('3.5')).not.toBe(normalizeAnswer('35'));
  });
});

describe('exactMatchAccuracy', () => {
  const answers: Record<string, string> = { a: 'Paris.', b: ' 42 ', c: 'blue', d: 'Seven', e: 'no' };
  const prompts = ['a', 'b', 'c', 'd', 'e'];
  const references = ['paris', '42', 'Red', 'seven', 'No!'];

  it('counts normalised matches, calling generate in batches, in order', async () => {
    const calls: string[][] = [];
    const result = await exactMatchAccuracy({
      prompts,
      references,
      batchSize: 2,
      generate: async (batch) => {
        calls.push(batch);
        return batch.map((p) => answers[p]);
      },
    });
    expect(calls).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(result).toMatchObject({ correct: 4, total: 5, accuracy: 0.8 });
    expect(result.records.map((r) => r.correct)).toEqual([true, true, false, true, true]);
    expect(result.records[0]).toEqual({
      index: 0,
      prompt: 'a',
      reference: 'paris',
      output: 'Paris.',
      normalizedOutput: 'paris',
      normalizedReference: 'paris',
      correct: true,
    });
  });

  it('compares raw text with normalize: false, or with a custom normalisation', async () => {
    const generate = (batch: string[]) => batch.map((p) => answers[p]);
    expect((await exactMatchAccuracy({ prompts, references, generate, normalize: false })).correct).toBe(0);
    const digits = await exactMatchAccuracy({
      prompts,
      references,
      generate,
      normalize: (t) => t.replace(/\D/g, ''),
    });
    expect(digits.correct).toBe(5); // every answer without digits is '' = ''
  });

  it('decodes token-id answers, cut before the first stop token', async () => {
    const STOP = 99;
    const decode = (ids: readonly number[]) => String.fromCharCode(...ids);
    const result = await exactMatchAccuracy({
      prompts: [[1], [2]],
      references: ['hi', 'yo'],
      generate: () => [
        [104, 105, STOP, 120],
        [121, 111, 111],
      ],
      decode,
      stopTokens: [STOP],
    });
    expect(result.records.map((r) => r.output)).toEqual(['hi', 'yoo']);
    expect(result.accuracy).toBe(0.5);
    await expect(
      exactMatchAccuracy({ prompts: [[1]], references: ['x'], generate: () => [[1]] }),
    ).rejects.toThrow(/generate returned token ids; pass decode/);
  });

  it('reports mismatched inputs and generators clearly', async () => {
    const generate = (batch: string[]) => batch;
    await expect(exactMatchAccuracy({ prompts: ['a'], references: [], generate })).rejects.toThrow(
      /same length, got 1 and 0/,
    );
    await expect(exactMatchAccuracy({ prompts: [], references: [], generate })).rejects.toThrow(/no prompts/);
    await expect(
      exactMatchAccuracy({ prompts: ['a', 'b'], references: ['a', 'b'], generate: () => ['a'] }),
    ).rejects.toThrow(/generate returned 1 answers for 2 prompts/);
  });
});
