/**
 * Batched generation: many prompts decoded together, one forward pass per token for the whole
 * batch. The prompts are left-padded to a common length and prefilled once with their padding,
 * so each row computes what it would alone (the evaluation of fine-tuned models and RLHF
 * rollouts generate this way).
 */
import { keep, scope, type Tensor, tensor } from '@kiln/tensor';
import type { GenerationCache, PaddedCausalLM } from './causal-lm.js';
import { checkGenerateOptions, checkIds, type GenerateOptions, inference, sampler } from './inference.js';

/**
 * Generates up to `maxTokens` new tokens after each of `prompts`, all together, and returns
 * the new tokens of each prompt (the stop token not included), in the order of the prompts.
 *
 * Each row is what `generate` would give for its prompt alone: greedy (`temperature: 0`) gives
 * the same tokens, and like `generate` a prompt longer than `contextLength` keeps its last
 * contextLength tokens and a full window slides (the whole batch is then re-prefilled with each
 * row's last window). Sampling draws one token per row per step, so with a `seed` the result is
 * reproducible, but the sampled tokens differ from separate `generate` calls.
 *
 * The prompts are left-padded with token 0 to the longest one and prefilled in one
 * `forwardCached(ids, cache, { padding })` call; then each step runs one token for every row.
 * A row that sampled a stop token is finished: it stays in the batch (its tokens are
 * discarded; its cost is one position per step) until every row has finished or `maxTokens`
 * steps have run. Runs without gradients and in eval mode, restoring the model's modes after.
 * Invalid arguments throw at the call.
 *
 * ```ts
 * const answers = await generateBatch(model, prompts.map((p) => tokenizer.encode(p)), {
 *   maxTokens: 32,
 *   temperature: 0,
 *   stopTokens: [tokenizer.tokenId('<|im_end|>')],
 * });
 * ```
 */
export function generateBatch<Cache extends GenerationCache>(
  model: PaddedCausalLM<Cache>,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions = {},
): Promise<number[][]> {
  const { vocabSize } = model.config;
  if (!Array.isArray(prompts)) {
    throw new TypeError('generateBatch: prompts must be an array of prompts, each an array of token ids');
  }
  prompts.forEach((prompt, i) => {
    checkIds('generateBatch', `prompts[${i}]`, prompt, vocabSize);
    if (prompt.length === 0) {
      throw new RangeError(
        `generateBatch: prompts[${i}] is empty; start every prompt with at least one token (e.g. a BOS or end-of-text id)`,
      );
    }
  });
  const checked = checkGenerateOptions('generateBatch', options, vocabSize);
  return run(
    model,
    prompts.map((p) => [...p]),
    checked,
  );
}

async function run<Cache extends GenerationCache>(
  model: PaddedCausalLM<Cache>,
  rows: number[][],
  options: GenerateOptions & { maxTokens: number; stopTokens: readonly number[] },
): Promise<number[][]> {
  const { contextLength } = model.config;
  const { maxTokens } = options;
  const generated: number[][] = rows.map(() => []);
  if (rows.length === 0 || maxTokens === 0) return generated;
  const stops = new Set(options.stopTokens);
  const finished = rows.map(() => false);
  const sample = sampler(options);
  const { backend } = model;

  const cache = model.createCache(rows.length);
  // Runs `ids [B, T]` at the cache's next positions; returns the next-token logits [B, V]
  // (kept: they outlive the step that made them).
  const advance = (ids: number[][], padding?: boolean[][]): Tensor =>
    inference(model, () => {
      const t = tensor(ids, { dtype: 'int32', backend });
      const pad = padding && tensor(padding, { dtype: 'bool', backend });
      try {
        return keep(model.forwardCached(t, cache, pad ? { padding: pad } : {}));
      } finally {
        t.dispose();
        pad?.dispose();
      }
    });
  // (Re)fills the cache with each row's last window, left-padded to the longest. A finished
  // row keeps only its last token, so it never makes the window slide for the others.
  const prefill = (): Tensor => {
    cache.reset();
    const windows = rows.map((r, b) => r.slice(finished[b] ? -1 : -contextLength));
    const T = Math.max(...windows.map((w) => w.length));
    const ids = windows.map((w) => [...new Array<number>(T - w.length).fill(0), ...w]);
    if (windows.every((w) => w.length === T)) return advance(ids);
    return advance(
      ids,
      windows.map((w) => Array.from({ length: T }, (_, t) => t < T - w.length)),
    );
  };

  let logits: Tensor | null = null;
  try {
    logits = prefill();
    for (let step = 0; step < maxTokens; step++) {
      const current: Tensor = logits;
      const chosen: Tensor = keep(scope(() => sample(current)));
      logits.dispose();
      logits = null;
      const ids = Array.from(await chosen.data(), Number);
      chosen.dispose();
      ids.forEach((id, b) => {
        if (finished[b]) return;
        if (stops.has(id)) {
          finished[b] = true;
        } else {
          generated[b].push(id);
          rows[b].push(id);
        }
      });
      if (step === maxTokens - 1 || finished.every(Boolean)) break;
      // A full window slides: every row is re-run over its last window (as `generate` does).
      logits = cache.length === contextLength ? prefill() : advance(rows.map((r) => [r[r.length - 1]]));
    }
  } finally {
    logits?.dispose();
    cache.dispose();
  }
  return generated;
}
