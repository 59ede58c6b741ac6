// The conversation generator: phrases, answers, determinism and the held-out split.
import { describe, expect, it } from 'vitest';
import { loadMobyDick } from '../src/corpus.js';
import { conversationsJsonl } from '../src/dataset-files.js';
import {
  bookPhrases,
  buildTasks,
  isHeldOut,
  TASK_NAMES,
  type TaskOptions,
  taskExample,
} from '../src/tasks.js';

const { text: book } = await loadMobyDick();

const OPTIONS: TaskOptions = {
  minWords: 2,
  maxWords: 5,
  maxChars: 40,
  heldOutFraction: 0.1,
  trainExamples: 3000,
  heldOutExamples: 120,
  seed: 1,
};

describe('phrases', () => {
  it('cuts clauses of whole lowercase words into phrases whose length cycles with the clause', () => {
    const text =
      "Call me Ishmael. some years ago never mind how long precisely. the whale's end; Not so. a b c";
    // Clauses (runs of whole lowercase words): 0 "me" (the capitalised words end it), 1 "some …
    // precisely" (8 words), 2 "the" (the apostrophe ends "whale's", which is no whole word), 3
    // "end", 4 "so" (not the "ot" of "Not"), 5 "a b c". Clause k starts at length 2 + k mod 4:
    // clause 1 gives "some years ago" (3) and "never mind how long" (4), then 5 words are not
    // left; clauses 0, 2, 3, 4 are too short for their lengths; clause 5 gives "a b c" (3).
    expect(bookPhrases(text, { minWords: 2, maxWords: 5, maxChars: 40 })).toEqual([
      'some years ago',
      'never mind how long',
      'a b c',
    ]);
    // maxChars drops the long one; duplicates are kept once.
    expect(bookPhrases(`${text}. a b c`, { minWords: 2, maxWords: 5, maxChars: 15 })).toEqual([
      'some years ago',
      'a b c',
    ]);
  });

  it('finds tens of thousands of distinct phrases in the book, each plain lowercase words', () => {
    const phrases = bookPhrases(book, OPTIONS);
    expect(phrases.length).toBeGreaterThan(20_000);
    expect(new Set(phrases).size).toBe(phrases.length);
    for (const p of phrases.slice(0, 2000)) {
      expect(p).toMatch(/^[a-z]+( [a-z]+){1,4}$/);
      expect(p.length).toBeLessThanOrEqual(40);
    }
  });
});

describe('tasks', () => {
  it('answers each task from the phrase', () => {
    const phrase = 'the white whale';
    expect(taskExample('count', phrase)).toEqual({
      task: 'count',
      phrase,
      prompt: 'Count words: the white whale',
      answer: '3',
    });
    expect(taskExample('initial', phrase).answer).toBe('t');
    expect(taskExample('final', phrase).answer).toBe('e');
    expect(taskExample('repeat', phrase).answer).toBe('the white whale');
    expect(taskExample('first', phrase).answer).toBe('the');
    expect(taskExample('last', phrase).answer).toBe('whale');
    expect(taskExample('final', 'sea ahoy').prompt).toBe('Last letter: sea ahoy');
  });

  it('is deterministic, and the seed changes only the order', () => {
    const a = buildTasks(book, OPTIONS);
    const b = buildTasks(book, OPTIONS);
    expect(b).toEqual(a);
    const c = buildTasks(book, { ...OPTIONS, seed: 2 });
    expect(c.train).not.toEqual(a.train);
    // The split does not depend on the seed: the same phrases are held out.
    const heldPhrases = (s: typeof a) => new Set(s.heldOut.map((e) => e.phrase));
    for (const e of c.heldOut) expect(isHeldOut(e.phrase, OPTIONS.heldOutFraction)).toBe(true);
    expect([...heldPhrases(c)].every((p) => !a.train.some((e) => e.phrase === p))).toBe(true);
  });

  it('holds out by phrase: no held-out prompt or phrase is trained on', () => {
    const { train, heldOut, phrases } = buildTasks(book, OPTIONS);
    expect(train).toHaveLength(OPTIONS.trainExamples);
    expect(heldOut).toHaveLength(OPTIONS.heldOutExamples);
    const all = bookPhrases(book, OPTIONS);
    expect(phrases).toBe(all.length);
    // Every phrase the full training set could contain, not just the ones kept.
    const trainPhrases = new Set(all.filter((p) => !isHeldOut(p, OPTIONS.heldOutFraction)));
    const trainPrompts = new Set(train.map((e) => e.prompt));
    for (const e of heldOut) {
      expect(trainPhrases.has(e.phrase)).toBe(false);
      expect(trainPrompts.has(e.prompt)).toBe(false);
    }
    for (const e of train) expect(isHeldOut(e.phrase, OPTIONS.heldOutFraction)).toBe(false);
    // The hash split holds out about the fraction asked for.
    const held = all.filter((p) => isHeldOut(p, 0.1)).length / all.length;
    expect(held).toBeGreaterThan(0.08);
    expect(held).toBeLessThan(0.12);
  });

  it('balances the held-out set over the tasks and asks every task about a phrase', () => {
    const { train, heldOut } = buildTasks(book, OPTIONS);
    const count = (list: typeof heldOut, task: string) => list.filter((e) => e.task === task).length;
    for (const task of OPTIONS.tasks ?? ['count', 'initial', 'final']) {
      expect(count(heldOut, task)).toBe(OPTIONS.heldOutExamples / 3);
      expect(count(train, task)).toBeGreaterThan(OPTIONS.trainExamples / 3 - 150);
    }
    const some = buildTasks(book, { ...OPTIONS, tasks: ['repeat', 'count'], heldOutExamples: 10 });
    expect(new Set(some.train.map((e) => e.task))).toEqual(new Set(['repeat', 'count']));
  });

  it('keeps only phrases all of whose conversations fit', () => {
    const fits = (e: { prompt: string }) => e.prompt.length <= 24;
    const { train, heldOut } = buildTasks(book, { ...OPTIONS, fits });
    for (const e of [...train, ...heldOut]) {
      // The longest prompt prefix is "First letter: " and "Count words: " (14 and 13 characters).
      expect(taskExample('initial', e.phrase).prompt.length).toBeLessThanOrEqual(24);
    }
  });

  it('writes one {"messages": [...]} conversation per line', () => {
    const jsonl = conversationsJsonl([taskExample('count', 'call me')]);
    expect(jsonl).toBe(
      '{"messages":[{"role":"user","content":"Count words: call me"},{"role":"assistant","content":"2"}]}\n',
    );
  });

  it('says what is wrong with bad options', () => {
    expect(() => buildTasks(book, { ...OPTIONS, trainExamples: 10_000_000 })).toThrow(
      /phrases, giving .* training .* were asked for/,
    );
    expect(() => buildTasks(book, { ...OPTIONS, minWords: 3, maxWords: 2 })).toThrow(
      /1 ≤ minWords ≤ maxWords/,
    );
    expect(() => buildTasks(book, { ...OPTIONS, heldOutFraction: 1 })).toThrow(/heldOutFraction must be in/);
    expect(() => buildTasks(book, { ...OPTIONS, tasks: ['sing' as never] })).toThrow(
      new RegExp(`unknown task 'sing'; the tasks are ${TASK_NAMES.join(', ')}`),
    );
  });
});
