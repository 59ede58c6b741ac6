/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new
 * token costs one position. Tokens are streamed through an async iterator.
 */
import { noGrad } from '@kiln/autograd';
import {
  getRngState,
  keep,
  manualSeed,
  type RngState,
  scope,
  setRngState,
  type Tensor,
  tensor,
} from '@kiln/tensor';
import type { CausalLM, GenerationCache } from './causal-lm.js';
import { checkSamplingOptions, type SamplingOptions, sampleToken } from './sampling.js';

/** Options of {@link generate} and `GPT.generate`. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (default 128). */
  maxTokens?: number;
  /** Stop when one of these ids is sampled; the stop token itself is not yielded. */
  stopTokens?: readonly number[];
  /**
   * Seed of a private generator for this call: the same seed gives the same tokens, and the
   * global generator (`manualSeed`) is left untouched. Without it, draws come from the global
   * generator, so `manualSeed(s)` before the call also makes it reproducible.
   */
  seed?: number;
}

function checkIds(what: string, ids: readonly number[], vocabSize: number): void {
  if (!Array.isArray(ids)) throw new TypeError(`generate: ${what} must be an array of token ids`);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`generate: ${what}[${i}] = ${id} is not a token id in [0, ${vocabSize})`);
    }
  });
}

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
  const { maxTokens = 128, stopTokens = [], seed } = options;
  checkIds('prompt', prompt, vocabSize);
  if (prompt.length === 0) {
    throw new RangeError(
      'generate: the prompt is empty; start it with at least one token (e.g. a BOS or end-of-text id)',
    );
  }
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`generate: maxTokens must be a non-negative integer, got ${maxTokens}`);
  }
  checkIds('stopTokens', stopTokens, vocabSize);
  checkSamplingOptions(options, vocabSize);
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
    throw new RangeError(`generate: seed must be a non-negative integer, got ${seed}`);
  }
  return run(model, [...prompt], { ...options, maxTokens, stopTokens });
}

async function* run<Cache extends GenerationCache>(
  model: CausalLM<Cache>,
  tokens: number[],
  options: GenerateOptions & { maxTokens: number; stopTokens: readonly number[] },
): AsyncGenerator<number, void, undefined> {
  const { vocabSize, contextLength } = model.config;
  const { maxTokens, seed } = options;
  if (maxTokens === 0) return;
  const stops = new Set(options.stopTokens);
  let privateRng: RngState | null = null;
  if (seed !== undefined) {
    const global = getRngState();
    manualSeed(seed);
    privateRng = getRngState();
    setRngState(global);
  }
  // Every tensor op below runs synchronously between awaits, so swapping the grad mode, the
  // module modes and the generator around it cannot leak into code running concurrently.
  const inference = <R>(fn: () => R): R => {
    const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
    model.eval();
    try {
      return noGrad(fn);
    } finally {
      for (const [m, training] of modes) m.training = training;
    }
  };
  const sample = (logits: Tensor): Tensor => {
    if (!privateRng) return sampleToken(logits, options);
    const global = getRngState();
    setRngState(privateRng);
    try {
      return sampleToken(logits, options);
    } finally {
      privateRng = getRngState();
      setRngState(global);
    }
  };

  const cache = model.createCache(1);
  // Runs `ids` at the cache's next positions; returns the next-token logits [1, V] (kept: they
  // outlive any scope the caller iterates in).
  const advance = (ids: number[]): Tensor =>
    inference(() => {
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
