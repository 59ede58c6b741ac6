// The fine-tuning tasks, generated deterministically from the book: short phrases of Moby Dick
// become conversations such as "Repeat: the whale sank" → "the whale sank". The tasks are
// chosen for what a tiny base model can learn in a minute or two and still generalise to
// phrases it never saw: each answer is a copy of part of the prompt (or a count over it), so
// learning the task means learning where to look, not memorising answers.
//
// The held-out split is by phrase (a hash of the phrase decides), so no held-out prompt, and no
// held-out phrase under another task, is ever trained on.
import { crc32 } from '@kiln/trainer';

/**
 * The tasks, each a way of asking about a phrase. The default run trains the first three: a
 * 0.17M-parameter base with a 32-token context learns them in a minute or two. The copying
 * tasks (`repeat`, `first`, `last`) need an induction-style copy mechanism that such a base did
 * not form in that budget (see README.md); they are here for bigger runs.
 */
export const TASKS = {
  /** How many words the phrase has, as a digit. */
  count: {
    ask: (phrase: string) => `Count words: ${phrase}`,
    answer: (words: string[]) => String(words.length),
  },
  /** The phrase's first letter. */
  initial: { ask: (phrase: string) => `First letter: ${phrase}`, answer: (words: string[]) => words[0][0] },
  /** The phrase's last letter. */
  final: {
    ask: (phrase: string) => `Last letter: ${phrase}`,
    answer: (words: string[]) => words.at(-1)!.at(-1)!,
  },
  /** The phrase itself. */
  repeat: { ask: (phrase: string) => `Repeat: ${phrase}`, answer: (words: string[]) => words.join(' ') },
  /** Its first word. */
  first: { ask: (phrase: string) => `First word: ${phrase}`, answer: (words: string[]) => words[0] },
  /** Its last word. */
  last: { ask: (phrase: string) => `Last word: ${phrase}`, answer: (words: string[]) => words.at(-1)! },
} as const;

/** The name of a task. */
export type TaskName = keyof typeof TASKS;

/** All task names, in a fixed order. */
export const TASK_NAMES = Object.keys(TASKS) as TaskName[];

/** The tasks of the default run. */
export const DEFAULT_TASKS: readonly TaskName[] = ['count', 'initial', 'final'];

/** One generated conversation: the user's prompt and the expected answer. */
export interface TaskExample {
  task: TaskName;
  /** The phrase the prompt is about. */
  phrase: string;
  /** The user's message. */
  prompt: string;
  /** The assistant's reply, exactly. */
  answer: string;
}

/** Options of {@link buildTasks}. */
export interface TaskOptions {
  /** Fewest words in a phrase (≥ 1). */
  minWords: number;
  /** Most words in a phrase. */
  maxWords: number;
  /** Most characters in a phrase (keeps conversations inside a short context). */
  maxChars: number;
  /** Fraction of the phrases held out, in (0, 1). */
  heldOutFraction: number;
  /** Training conversations to keep (the first ones after a seeded shuffle). */
  trainExamples: number;
  /** Held-out conversations to keep, spread evenly over the tasks. */
  heldOutExamples: number;
  /** Seed of the shuffle. */
  seed: number;
  /** The tasks to generate (default: {@link DEFAULT_TASKS}). */
  tasks?: readonly TaskName[];
  /**
   * Keeps only conversations for which this is true (default: all), e.g. those whose tokens
   * fit the model's context. A phrase is kept only if all its tasks fit, so every phrase is
   * asked about in every way.
   */
  fits?: (example: TaskExample) => boolean;
}

/** The training and held-out conversations. */
export interface TaskSplit {
  train: TaskExample[];
  heldOut: TaskExample[];
  /** Distinct phrases found in the text, before the split. */
  phrases: number;
}

/** A small, fast, seeded generator (mulberry32), so a shuffle is the same on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates, in place, with a seeded generator. */
function shuffle<T>(items: T[], seed: number): T[] {
  const next = random(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * Distinct phrases of the text, in order of first appearance: runs of `minWords`–`maxWords`
 * lowercase words inside one clause (punctuation, capitals and digits end a run, so phrases
 * are plain words separated by single spaces), at most `maxChars` characters long.
 */
export function bookPhrases(
  text: string,
  options: Pick<TaskOptions, 'minWords' | 'maxWords' | 'maxChars'>,
): string[] {
  const { minWords, maxWords, maxChars } = options;
  const seen = new Set<string>();
  // A clause is a maximal run of whole lowercase words separated by whitespace (the lookarounds
  // keep the tails of capitalised or hyphenated words, like the "ot" of "Not", out).
  let clause = 0;
  for (const match of text.matchAll(/(?<![A-Za-z'’-])[a-z]+(?:\s+[a-z]+)*(?![A-Za-z'’-])/g)) {
    const words = match[0].split(/\s+/);
    // Cut the clause into consecutive phrases whose lengths cycle through minWords..maxWords,
    // so every length is represented without taking every overlapping window.
    let at = 0;
    let length = minWords + (clause++ % (maxWords - minWords + 1));
    while (at + length <= words.length) {
      const phrase = words.slice(at, at + length).join(' ');
      if (phrase.length <= maxChars) seen.add(phrase);
      at += length;
      length = length === maxWords ? minWords : length + 1;
    }
  }
  return [...seen];
}

/** Whether a phrase is held out: a hash of its text, so the split needs no state and never changes. */
export function isHeldOut(phrase: string, heldOutFraction: number): boolean {
  const hash = crc32(new TextEncoder().encode(phrase));
  return hash / 4294967296 < heldOutFraction;
}

/** One conversation of `task` about `phrase`. */
export function taskExample(task: TaskName, phrase: string): TaskExample {
  const spec = TASKS[task];
  return { task, phrase, prompt: spec.ask(phrase), answer: spec.answer(phrase.split(' ')) };
}

function checkOptions(options: TaskOptions): void {
  const { minWords, maxWords, maxChars, heldOutFraction, trainExamples, heldOutExamples } = options;
  if (!Number.isInteger(minWords) || minWords < 1 || !Number.isInteger(maxWords) || maxWords < minWords) {
    throw new RangeError(
      `tasks: minWords and maxWords must be integers with 1 ≤ minWords ≤ maxWords, got ${minWords} and ${maxWords}`,
    );
  }
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`tasks: maxChars must be a positive integer, got ${maxChars}`);
  }
  if (options.tasks !== undefined && (!Array.isArray(options.tasks) || options.tasks.length === 0)) {
    throw new RangeError(`tasks: tasks must be a non-empty list of ${TASK_NAMES.join(', ')}`);
  }
  if (!(heldOutFraction > 0 && heldOutFraction < 1)) {
    throw new RangeError(`tasks: heldOutFraction must be in (0, 1), got ${heldOutFraction}`);
  }
  for (const [key, value] of Object.entries({ trainExamples, heldOutExamples })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`tasks: ${key} must be a positive integer, got ${value}`);
    }
  }
  for (const task of options.tasks ?? []) {
    if (!(task in TASKS)) {
      throw new RangeError(`tasks: unknown task '${task}'; the tasks are ${TASK_NAMES.join(', ')}`);
    }
  }
}

/**
 * The conversations: every task over every phrase, split by phrase into training and held-out
 * sets, each shuffled with `seed`; then the first `trainExamples` training conversations and
 * `heldOutExamples` held-out ones, the held-out set balanced over the tasks. Throws when the
 * text has too few phrases for the sizes asked.
 */
export function buildTasks(text: string, options: TaskOptions): TaskSplit {
  checkOptions(options);
  const tasks = options.tasks ?? DEFAULT_TASKS;
  const phrases = bookPhrases(text, options);
  const train: TaskExample[] = [];
  const heldOutByTask = new Map<TaskName, TaskExample[]>(tasks.map((t) => [t, []]));
  const { fits = () => true } = options;
  for (const phrase of phrases) {
    const examples = tasks.map((task) => taskExample(task, phrase));
    if (!examples.every(fits)) continue;
    const held = isHeldOut(phrase, options.heldOutFraction);
    for (const example of examples) {
      if (held) heldOutByTask.get(example.task)!.push(example);
      else train.push(example);
    }
  }
  shuffle(train, options.seed);
  const perTask = Math.ceil(options.heldOutExamples / tasks.length);
  const heldOut: TaskExample[] = [];
  for (const [i, task] of tasks.entries()) {
    heldOut.push(...shuffle(heldOutByTask.get(task)!, options.seed + 1 + i).slice(0, perTask));
  }
  // Interleave the tasks so any prefix of the held-out set covers all of them.
  const balanced = shuffle(heldOut, options.seed + 1 + tasks.length).slice(0, options.heldOutExamples);
  if (train.length < options.trainExamples || balanced.length < options.heldOutExamples) {
    throw new RangeError(
      `tasks: the text has ${phrases.length} phrases, giving ${train.length} training and ${heldOut.length} held-out conversations; ` +
        `${options.trainExamples} and ${options.heldOutExamples} were asked for. Ask for fewer, or allow longer phrases (maxWords, maxChars)`,
    );
  }
  return { train: train.slice(0, options.trainExamples), heldOut: balanced, phrases: phrases.length };
}

/**
 * The accuracy of always giving each task's commonest training answer, on `heldOut`: what a
 * model gets from the answers' frequencies alone, without reading the prompt. Overall and per task.
 */
export function commonestAnswerAccuracy(
  train: readonly TaskExample[],
  heldOut: readonly TaskExample[],
): {
  accuracy: number;
  byTask: Partial<Record<TaskName, number>>;
  answers: Partial<Record<TaskName, string>>;
} {
  const counts = new Map<TaskName, Map<string, number>>();
  for (const e of train) {
    const byAnswer = counts.get(e.task) ?? new Map<string, number>();
    byAnswer.set(e.answer, (byAnswer.get(e.answer) ?? 0) + 1);
    counts.set(e.task, byAnswer);
  }
  const answers: Partial<Record<TaskName, string>> = {};
  for (const [task, byAnswer] of counts) {
    answers[task] = [...byAnswer].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  }
  const byTask: Partial<Record<TaskName, number>> = {};
  for (const task of new Set(heldOut.map((e) => e.task))) {
    const of = heldOut.filter((e) => e.task === task);
    byTask[task] = of.filter((e) => e.answer === answers[task]).length / of.length;
  }
  const correct = heldOut.filter((e) => e.answer === answers[e.task]).length;
  return { accuracy: heldOut.length === 0 ? 0 : correct / heldOut.length, byTask, answers };
}
