/**
 * What every generation loop shares: checking its arguments, running a forward pass without
 * gradients in eval mode, and drawing from a private seeded generator. `generate` (one prompt)
 * and `generateBatch` (many) both use these, so they check and sample the same way.
 */
import { noGrad } from '@kiln/autograd';
import { getRngState, manualSeed, type RngState, setRngState, type Tensor } from '@kiln/tensor';
import type { CausalLM } from './causal-lm.js';
import { checkSamplingOptions, type SamplingOptions, sampleToken } from './sampling.js';
import { checkTokenArray } from './token-ids.js';

/** Options of {@link generate} and `GPT.generate` (and of `generateBatch`). */
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

/** Throws unless `ids` is an array of integers in [0, vocabSize); `who` and `what` name the call and the argument. */
export function checkIds(who: string, what: string, ids: readonly number[], vocabSize: number): void {
  checkTokenArray(who, what, ids, vocabSize);
}

/**
 * Checks the options shared by every generation call against the vocabulary and fills in the
 * defaults; throws naming the option and its valid range.
 */
export function checkGenerateOptions(
  who: string,
  options: GenerateOptions,
  vocabSize: number,
): GenerateOptions & { maxTokens: number; stopTokens: readonly number[] } {
  const { maxTokens = 128, stopTokens = [], seed } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`${who}: maxTokens must be a non-negative integer, got ${maxTokens}`);
  }
  checkIds(who, 'stopTokens', stopTokens, vocabSize);
  checkSamplingOptions(options, vocabSize);
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
    throw new RangeError(`${who}: seed must be a non-negative integer, got ${seed}`);
  }
  return { ...options, maxTokens, stopTokens };
}

/**
 * Runs `fn` without gradients and with every module of `model` in eval mode (dropout off),
 * restoring each module's flag after. Every tensor op in `fn` is synchronous, so the swap cannot
 * leak into code running concurrently between the caller's awaits.
 */
export function inference<R>(model: CausalLM, fn: () => R): R {
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  model.eval();
  try {
    return noGrad(fn);
  } finally {
    for (const [m, training] of modes) m.training = training;
  }
}

/**
 * A sampler for one generation call: `sampleToken` with `options`, drawing from a private
 * generator seeded with `options.seed` (the global generator is left as it was), or from the
 * global generator when there is no seed.
 */
export function sampler(options: GenerateOptions): (logits: Tensor) => Tensor {
  const { seed } = options;
  if (seed === undefined) return (logits) => sampleToken(logits, options);
  const global = getRngState();
  manualSeed(seed);
  let own: RngState = getRngState();
  setRngState(global);
  return (logits) => {
    const outer = getRngState();
    setRngState(own);
    try {
      return sampleToken(logits, options);
    } finally {
      own = getRngState();
      setRngState(outer);
    }
  };
}
