/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new
 * token costs one position. Tokens are streamed through an async iterator.
 */
import { keep, scope, type Tensor, tensor } from '@kiln/tensor';
import type { CausalLM, GenerationCache } from './causal-lm.js';
import { checkGenerateOptions, checkIds, type GenerateOptions, inference, sampler } from './inference.js';

export type { GenerateOptions } from './inference.js';

/**
 * Streams up to `maxTokens` sampled ids following `prompt` from any {@link CausalLM} (a `GPT`,
 * or another policy with the same members; `GPT.generate` calls this).
 *
 * The model sees at most `contextLength` tokens: a longer prompt keeps its last contextLength
 * tokens, and once the window is full each new token slides it, keeping the last
 * contextLength−1 tokens plus the new one and recomputing the cache over them (exactly what a
 * full forward over the last contextLength tokens would give; that step costs a prefill).
 *
 * Runs without gradients and in eval mode (dropout off) for each forward pass, restoring the
 * model's mode afterwards, so it can be called in the middle of training. Breaking out of the
 * loop frees the cache. Invalid arguments throw here, at the call, not at the first iteration.
 */
export function generate<Cache extends GenerationCache>(
  model: CausalLM<Cache>,
  prompt: readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<number, void, undefined> {
  // Validate now, so mistakes throw at the call rather than at the first iteration.
  const { vocabSize } = model.config;
  checkIds('generate', 'prompt', prompt, vocabSize);
  if (prompt.length === 0) {
    throw new RangeError(
      'generate: the prompt is empty; start it with at least one token (e.g. a BOS or end-of-text id)',
    );
  }
  return run(model, [...prompt], checkGenerateOptions('generate', options, vocabSize));
}

async function* run<Cache extends GenerationCache>(
  model: CausalLM<Cache>,
  tokens: number[],
  options: GenerateOptions & { maxTokens: number; stopTokens: readonly number[] },
): AsyncGenerator<number, void, undefined> {
  const { vocabSize, contextLength } = model.config;
  const { maxTokens } = options;
  if (maxTokens === 0) return;
  const stops = new Set(options.stopTokens);
  const sample = sampler(options);

  const cache = model.createCache(1);
  // Runs `ids` at the cache's next positions; returns the next-token logits [1, V] (kept: they
  // outlive any scope the caller iterates in).
  const advance = (ids: number[]): Tensor =>
    inference(model, () => {
      const t = tensor([ids], { dtype: 'int32', backend: model.backend });
      try {
        return keep(model.forwardCached(t, cache));
      } finally {
        t.dispose();
      }
    });
  // (Re)fills the cache with the last window of tokens.
  const prefill = (): Tensor => {
    cache.reset();
    return advance(tokens.slice(-contextLength));
  };
  let logits: Tensor | null = null;
  try {
    logits = prefill();
    for (let step = 0; step < maxTokens; step++) {
      const current: Tensor = logits;
      const chosen: Tensor = keep(scope(() => sample(current.reshape([vocabSize]))));
      logits.dispose();
      logits = null;
      const id: number = await chosen.item();
      chosen.dispose();
      if (stops.has(id)) return;
      yield id;
      tokens.push(id);
      if (step === maxTokens - 1) break;
      // A full window slides: re-run its last contextLength − 1 tokens plus the new one.
      logits = cache.length === contextLength ? prefill() : advance([id]);
    }
  } finally {
    logits?.dispose();
    cache.dispose();
  }
}
