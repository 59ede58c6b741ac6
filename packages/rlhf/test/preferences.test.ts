// Preference data: both JSONL formats parse to the same pairs; bad lines and pairs without a
// preference are errors naming the line or pair; PreferenceSource resumes exactly.
import { describe, expect, it } from 'vitest';
import {
  PreferenceSource,
  parsePreferenceJsonl,
  preferenceRows,
  tokenizePreferencePairs,
} from '../src/index.js';

describe('parsePreferenceJsonl', () => {
  it('reads the prompt/chosen/rejected and the conversational formats', () => {
    const text = [
      '{"prompt": "Count words: a b", "chosen": "2", "rejected": "3"}',
      '',
      JSON.stringify({
        chosen: [
          { role: 'user', content: 'Count words: a b' },
          { role: 'assistant', content: '2' },
        ],
        rejected: [
          { role: 'user', content: 'Count words: a b' },
          { role: 'assistant', content: '3' },
        ],
      }),
    ].join('\n');
    const pairs = parsePreferenceJsonl(text, 'p.jsonl');
    expect(pairs).toEqual([
      { prompt: 'Count words: a b', chosen: '2', rejected: '3' },
      { prompt: 'Count words: a b', chosen: '2', rejected: '3' },
    ]);
  });
  it('names the line of a bad or identical pair', () => {
    expect(() => parsePreferenceJsonl('{"prompt": "x", "chosen": "a", "rejected": "a"}', 'p.jsonl')).toThrow(
      /p.jsonl:1: chosen and rejected are identical \("a"\) for prompt "x"/,
    );
    expect(() => parsePreferenceJsonl('\n{"prompt": "x"}', 'p.jsonl')).toThrow(/p.jsonl:2: expected/);
    expect(() => parsePreferenceJsonl('{oops', 'p.jsonl')).toThrow(/p.jsonl:1: not valid JSON/);
  });
});

describe('tokenizing and batching pairs', () => {
  const encode = (s: string) => Array.from(s, (ch) => ch.charCodeAt(0) % 50);
  const options = { encodePrompt: encode, encodeAnswer: (s: string) => [...encode(s), 49], maxLength: 8 };
  it('a pair longer than the budget is an error naming it', () => {
    expect(() =>
      tokenizePreferencePairs([{ prompt: 'abcdef', chosen: 'xy', rejected: 'z' }], options),
    ).toThrow(/pair 0 \(prompt "abcdef"\) has 9 tokens, more than the budget of 8/);
  });
  it('rows put the chosen answers first, then the rejected, with answer masks', () => {
    const pairs = tokenizePreferencePairs(
      [
        { prompt: 'ab', chosen: 'c', rejected: 'dd' },
        { prompt: 'a', chosen: 'e', rejected: 'f' },
      ],
      options,
    );
    const rows = preferenceRows(pairs);
    expect(rows.ids.shape).toEqual([4, 5]);
    expect(Array.from(rows.mask.data.slice(0, 5))).toEqual([0, 0, 1, 1, 0]);
    expect(Array.from(rows.mask.data.slice(10, 15))).toEqual([0, 0, 1, 1, 1]);
    expect(Array.from(rows.padding.data.slice(15, 20))).toEqual([0, 0, 0, 1, 1]);
  });
  it('PreferenceSource resumes exactly', () => {
    const pairs = tokenizePreferencePairs(
      Array.from({ length: 7 }, (_, i) => ({ prompt: `p${i}`, chosen: 'a', rejected: 'b' })),
      options,
    );
    const extras = { refChosen: Float32Array.from({ length: 7 }, (_, i) => i) };
    const a = new PreferenceSource(pairs, { batchSize: 3, seed: 2, extras });
    a.next();
    a.next();
    const state = JSON.parse(JSON.stringify(a.state()));
    const want = [a.next(), a.next()];
    const b = new PreferenceSource(pairs, { batchSize: 3, seed: 2, extras });
    b.restore(state);
    expect([b.next(), b.next()]).toEqual(want);
    expect(a.epoch).toBeCloseTo(12 / 7);
  });
});
