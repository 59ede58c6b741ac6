// Rollouts: every prompt × G completions generated in one batched, KV-cached pass on the device
// (`generateBatch`), timed; then laid out as right-padded training rows with the completion
// mask, which is what the loss functions consume.
import type { HostTensor } from '@kiln/trainer';
import { type GenerateOptions, generateBatch, type PaddedCausalLM } from '@kiln/transformer';
import type { RLPrompt } from './rewards.js';

/** Sampling settings of a rollout. */
export interface RolloutOptions {
  /** Most completion tokens (the end-of-turn token included). */
  maxTokens: number;
  /** Sampling temperature (default 1: the policy's own distribution, which the loss assumes). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** End-of-turn ids: a completion that samples one is finished. */
  stopTokens: readonly number[];
  /** Seed of this rollout's sampling. */
  seed?: number;
}

/** One batch of rollouts, row by row. */
export interface Rollouts {
  /** The prompt ids of each row. */
  prompts: number[][];
  /**
   * The completion ids of each row, ending with the stop token when it finished (so the loss
   * teaches stopping too).
   */
  completions: number[][];
  /** Whether each row sampled a stop token within `maxTokens`. */
  finished: boolean[];
  /** Wall-clock seconds of the generation. */
  seconds: number;
  /** Tokens generated (the stop tokens included). */
  tokens: number;
}

/**
 * Throws unless each prompt leaves room for `maxTokens` in the model's context, naming the first
 * prompt that does not (a silently truncated prompt would be rewarded for the wrong question).
 */
export function checkPromptBudget(
  prompts: readonly RLPrompt[],
  contextLength: number,
  maxTokens: number,
  who: string,
): void {
  const budget = contextLength - maxTokens;
  for (const [i, p] of prompts.entries()) {
    if (p.ids.length === 0)
      throw new RangeError(`${who}: prompt ${i} (${JSON.stringify(p.text)}) has no tokens`);
    if (p.ids.length > budget) {
      throw new RangeError(
        `${who}: prompt ${i} (${JSON.stringify(p.text)}) has ${p.ids.length} tokens, more than the budget of ${budget} (context ${contextLength} − ${maxTokens} completion tokens); shorten it, drop it or lower maxCompletionTokens`,
      );
    }
  }
}

/**
 * The rollout inputs both RL trainers take, checked once: at least one prompt, each within the
 * context budget ({@link checkPromptBudget}), and the end-of-turn ids.
 */
export function checkRolloutInputs(
  prompts: readonly RLPrompt[],
  stopTokens: readonly number[] | undefined,
  contextLength: number,
  maxTokens: number,
  who: string,
): void {
  if (!Array.isArray(prompts) || prompts.length === 0)
    throw new TypeError(`${who}: give at least one prompt`);
  checkPromptBudget(prompts, contextLength, maxTokens, who);
  if (!stopTokens?.length) throw new TypeError(`${who}: give the end-of-turn id(s) in stopTokens`);
}

/** Generates a completion for each of `prompts` (repeat a prompt G times for a group) in one batched pass. */
export async function rollout(
  policy: PaddedCausalLM,
  prompts: readonly (readonly number[])[],
  options: RolloutOptions,
): Promise<Rollouts> {
  const { maxTokens, stopTokens, temperature = 1, topK, topP, seed } = options;
  const generate: GenerateOptions = { maxTokens, stopTokens, temperature, topK, topP, seed };
  const start = performance.now();
  const generated = await generateBatch(policy, prompts, generate);
  const seconds = (performance.now() - start) / 1000;
  // generateBatch drops the stop token; a row shorter than maxTokens stopped on one.
  const finished = generated.map((g) => g.length < maxTokens);
  const completions = generated.map((g, i) => (finished[i] ? [...g, stopTokens[0]] : g));
  return {
    prompts: prompts.map((p) => [...p]),
    completions,
    finished,
    seconds,
    tokens: completions.reduce((a, c) => a + c.length, 0),
  };
}

/** Training rows of prompt + completion: `ids`, `mask` (1 on completion tokens) and `padding`, `[N, L]`. */
export interface RolloutRows {
  ids: HostTensor;
  /** float32 1 on the completion tokens. */
  mask: HostTensor;
  /** bool true at the right padding. */
  padding: HostTensor;
  /** The row width L (longest prompt + completion). */
  length: number;
}

/** Lays out rows of prompt + completion, right-padded with `padId` to the longest. */
export function rolloutRows(
  prompts: readonly (readonly number[])[],
  completions: readonly (readonly number[])[],
  padId = 0,
): RolloutRows {
  const N = prompts.length;
  const L = Math.max(2, ...prompts.map((p, i) => p.length + completions[i].length));
  const ids = new Int32Array(N * L).fill(padId);
  const mask = new Float32Array(N * L);
  const padding = new Uint8Array(N * L).fill(1);
  for (let i = 0; i < N; i++) {
    const row = [...prompts[i], ...completions[i]];
    for (let t = 0; t < row.length; t++) {
      ids[i * L + t] = row[t];
      padding[i * L + t] = 0;
      if (t >= prompts[i].length) mask[i * L + t] = 1;
    }
  }
  const shape = [N, L];
  return {
    ids: { data: ids, shape, dtype: 'int32' },
    mask: { data: mask, shape, dtype: 'float32' },
    padding: { data: padding, shape, dtype: 'bool' },
    length: L,
  };
}
