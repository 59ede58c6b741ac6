// The task, from examples/finetune's data: questions about short phrases of Moby Dick ("Last
// letter: …", "First letter: …", "Count words: …"). Every answer can be checked by a program,
// which is what makes it a task for reinforcement learning with machine feedback.
import type { RewardFunction, RLPrompt } from '@kiln/rlhf';
import type { Tokenizer } from '@kiln/tokenizer';
import { type ChatExample, generationPrompts, normalizeAnswer, readChatJsonl } from '@kiln/trainer/node';

/** What a prompt carries for the reward functions and the report. */
export interface TaskRecord {
  /** The task, from the prompt's first words. */
  task: 'count' | 'initial' | 'final' | 'other';
  /** The correct answer. */
  answer: string;
}

/** A task's name from its prompt. */
export function taskOf(prompt: string): TaskRecord['task'] {
  if (prompt.startsWith('Count words:')) return 'count';
  if (prompt.startsWith('First letter:')) return 'initial';
  if (prompt.startsWith('Last letter:')) return 'final';
  return 'other';
}

function userText(example: ChatExample): string {
  if (!('messages' in example)) return example.prompt;
  return example.messages.find((m) => m.role === 'user')?.content ?? '';
}

/** Reads a conversation file into RL prompts (ChatML generation prompts) with their answers. */
export async function readPrompts(
  path: string,
  tokenizer: Tokenizer,
  limit?: number,
): Promise<RLPrompt<TaskRecord>[]> {
  const { examples } = await readChatJsonl(path);
  const chosen = limit === undefined ? examples : examples.slice(0, limit);
  const { prompts, references } = generationPrompts(chosen, tokenizer, { template: 'chatml' });
  return chosen.map((example, i) => {
    const text = userText(example);
    return { ids: prompts[i], text, example: { task: taskOf(text), answer: references[i] } };
  });
}

/** The programmatic reward: 1 for the exact answer (after @kiln/trainer's normalisation), else 0. */
export const correctness: RewardFunction<TaskRecord> = {
  name: 'correct',
  fn: (_prompt, completion, example) =>
    normalizeAnswer(completion) === normalizeAnswer(example.answer) ? 1 : 0,
};

/**
 * A shaped reward for GRPO beside {@link correctness}: partial credit that points towards the
 * answer when it is wrong — for counting, 1 − |n − want| / 2 (at least 0); for the letter tasks,
 * 1 when the letter occurs in the word it must come from (the first word for `First letter`,
 * the last for `Last letter`). Exact answers get 1 here too.
 */
export const closeness: RewardFunction<TaskRecord> = {
  name: 'close',
  fn: (prompt, completion, example) => {
    const got = normalizeAnswer(completion);
    const want = normalizeAnswer(example.answer);
    if (got === want) return 1;
    if (example.task === 'count') {
      return /^\d+$/.test(got) ? Math.max(0, 1 - Math.abs(Number(got) - Number(want)) / 2) : 0;
    }
    if (!/^[a-z]$/.test(got)) return 0;
    const words = normalizeAnswer(prompt.slice(prompt.indexOf(':') + 1)).split(' ');
    const word = example.task === 'initial' ? words[0] : words.at(-1);
    return word?.includes(got) ? 0.5 : 0;
  },
};

/**
 * The judge of step 2, standing in for human raters: a graded score, so two wrong answers can
 * still be ranked. 1 for the right answer; otherwise partial credit for the right form (a
 * single letter for the letter tasks, a number for counting, closer counts better) minus a
 * little per extra character.
 */
export function judgeScore(completion: string, example: TaskRecord): number {
  const got = normalizeAnswer(completion);
  const want = normalizeAnswer(example.answer);
  if (got === want) return 1;
  let score = 0;
  if (example.task === 'count') {
    const n = Number(got);
    if (/^\d+$/.test(got)) score = 0.4 - 0.1 * Math.min(3, Math.abs(n - Number(want)));
  } else if (/^[a-z]$/.test(got)) score = 0.3;
  return score - 0.01 * Math.max(0, got.length - want.length);
}

/**
 * The prompts that leave room for `maxTokens` completion tokens in the context (the trainers
 * refuse longer ones rather than truncate them); says how many were left out.
 */
export function fitting<E>(
  prompts: readonly RLPrompt<E>[],
  contextLength: number,
  maxTokens: number,
  log: (line: string) => void,
): RLPrompt<E>[] {
  const kept = prompts.filter((p) => p.ids.length + maxTokens <= contextLength);
  if (kept.length < prompts.length) {
    log(
      `  ${prompts.length - kept.length} of ${prompts.length} training prompts leave no room for ${maxTokens} answer tokens in the ${contextLength}-token context; left out`,
    );
  }
  return kept;
}
