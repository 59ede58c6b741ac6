// Held-out evaluation of an assistant: task accuracy by batched greedy generation (exact match
// after @kiln/trainer's normalisation) and the loss on the assistant's tokens.
import type { Tokenizer } from '@kiln/tokenizer';
import {
  type ChatExample,
  evaluate,
  exactMatchAccuracy,
  generationPrompts,
  type SFTDataset,
} from '@kiln/trainer';
import { type GPT, generateBatch } from '@kiln/transformer';
import type { TaskName } from './tasks.js';

/** What one model scored on the held-out conversations. */
export interface Assessment {
  /** Fraction of held-out prompts answered exactly right. */
  accuracy: number;
  /** The same, per task. */
  byTask: Partial<Record<TaskName, number>>;
  /** Mean cross-entropy over the assistant's tokens (answers and end-of-turn markers), nats/token. */
  loss: number;
  /** The generated answer to each held-out prompt, in order. */
  outputs: string[];
  /** Seconds the generation took. */
  generationSeconds: number;
}

/** Options of {@link assess}. */
export interface AssessOptions {
  /** Most tokens per answer. */
  maxTokens: number;
  /** Prompts decoded together. */
  batchSize: number;
}

/**
 * Scores `model` on the held-out conversations: `examples` (as read from the JSONL file) with
 * the task of each, and `heldOut`, the same conversations tokenized, for the loss.
 */
export async function assess(
  model: GPT,
  tokenizer: Tokenizer,
  held: { examples: readonly ChatExample[]; tasks: readonly TaskName[]; heldOut: SFTDataset },
  options: AssessOptions,
): Promise<Assessment> {
  const { examples, tasks, heldOut } = held;
  if (examples.length !== tasks.length) {
    throw new RangeError(`assess: ${examples.length} held-out conversations but ${tasks.length} task names`);
  }
  const imEnd = tokenizer.tokenToId('<|im_end|>')!;
  const { prompts, references } = generationPrompts(examples, tokenizer, { template: 'chatml' });
  const start = performance.now();
  const result = await exactMatchAccuracy({
    prompts,
    references,
    generate: (batch) =>
      generateBatch(model, batch, { maxTokens: options.maxTokens, temperature: 0, stopTokens: [imEnd] }),
    decode: (ids) => tokenizer.decode(ids),
    stopTokens: [imEnd],
    batchSize: options.batchSize,
  });
  const generationSeconds = (performance.now() - start) / 1000;
  const byTask: Partial<Record<TaskName, number>> = {};
  for (const task of new Set(tasks)) {
    const records = result.records.filter((r) => tasks[r.index] === task);
    byTask[task] = records.filter((r) => r.correct).length / records.length;
  }
  const { loss } = await evaluate(model, heldOut.batches());
  return {
    accuracy: result.accuracy,
    byTask,
    loss,
    outputs: result.records.map((r) => r.output),
    generationSeconds,
  };
}
