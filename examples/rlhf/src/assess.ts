// Held-out accuracy of a policy: batched greedy generation of every held-out prompt, scored by
// exact match after @kiln/trainer's normalisation, overall and per task.
import type { RLPrompt } from '@kiln/rlhf';
import type { Tokenizer } from '@kiln/tokenizer';
import { exactMatchAccuracy } from '@kiln/trainer';
import { type GPT, generateBatch } from '@kiln/transformer';
import type { TaskRecord } from './task.js';

/** A policy's held-out scores. */
export interface Assessment {
  accuracy: number;
  byTask: Record<string, number>;
  /** Each held-out prompt's greedy answer, in order. */
  outputs: string[];
  /** Mean exact-answer accuracy of sampled answers (the rollouts' temperature), when measured. */
  sampledAccuracy?: number;
}

/** Scores `model` on `prompts` (greedy, at most `maxTokens` tokens per answer). */
export async function assess(
  model: GPT,
  tokenizer: Tokenizer,
  prompts: readonly RLPrompt<TaskRecord>[],
  options: { maxTokens: number; batchSize: number; sampled?: { temperature: number; samples: number } },
): Promise<Assessment> {
  const imEnd = tokenizer.tokenToId('<|im_end|>')!;
  const result = await exactMatchAccuracy({
    prompts: prompts.map((p) => p.ids),
    references: prompts.map((p) => p.example.answer),
    generate: (batch) =>
      generateBatch(model, batch, { maxTokens: options.maxTokens, temperature: 0, stopTokens: [imEnd] }),
    decode: (ids) => tokenizer.decode(ids),
    stopTokens: [imEnd],
    batchSize: options.batchSize,
  });
  const byTask: Record<string, number> = {};
  for (const task of new Set(prompts.map((p) => p.example.task))) {
    const records = result.records.filter((r) => prompts[r.index].example.task === task);
    byTask[task] = records.filter((r) => r.correct).length / records.length;
  }
  const outputs = result.records.map((r) => r.output);
  if (!options.sampled) return { accuracy: result.accuracy, byTask, outputs };
  // the policy as RL trains it: sampled answers, `samples` per prompt, a fixed seed
  const { temperature, samples } = options.sampled;
  let correct = 0;
  for (let s = 0; s < samples; s++) {
    const sampled = await exactMatchAccuracy({
      prompts: prompts.map((p) => p.ids),
      references: prompts.map((p) => p.example.answer),
      generate: (batch) =>
        generateBatch(model, batch, {
          maxTokens: options.maxTokens,
          temperature,
          seed: 1000 + s,
          stopTokens: [imEnd],
        }),
      decode: (ids) => tokenizer.decode(ids),
      stopTokens: [imEnd],
      batchSize: options.batchSize,
    });
    correct += sampled.correct;
  }
  return {
    accuracy: result.accuracy,
    byTask,
    outputs,
    sampledAccuracy: correct / (samples * prompts.length),
  };
}

/** `accuracy 41.2% (count 50%, initial 40%, final 34%)`. */
export function describeAssessment(a: Pick<Assessment, 'accuracy' | 'byTask' | 'sampledAccuracy'>): string {
  const parts = Object.entries(a.byTask).map(([t, v]) => `${t} ${(v * 100).toFixed(0)}%`);
  const sampled = a.sampledAccuracy === undefined ? '' : `; sampled ${(a.sampledAccuracy * 100).toFixed(1)}%`;
  return `held-out accuracy ${(a.accuracy * 100).toFixed(1)}% (${parts.join(', ')})${sampled}`;
}
