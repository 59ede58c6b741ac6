/**
 * What `generate` needs from a model: a causal language model that runs incrementally over a
 * cache. `GPT` is one; so is any other policy (an MoE model, a LoRA-wrapped model, a toy table
 * for a test) that has these members. Nothing here is specific to transformers.
 */
import type { Backend, Tensor } from '@kiln/tensor';

/** The per-sequence state of incremental decoding (a KV cache, for a transformer). */
export interface GenerationCache {
  /** Positions processed so far; `forwardCached` advances it by the tokens it ran. */
  readonly length: number;
  /** Forgets every position, keeping the memory for reuse. */
  reset(): void;
  /** Frees the cache. */
  dispose(): void;
}

/**
 * A causal language model that `generate` can sample from. It may also be a `Module`: the
 * members below are the ones `Module` has, so any module with the model members fits.
 */
export interface CausalLM<Cache extends GenerationCache = GenerationCache> {
  /** Token ids are `0 … vocabSize−1`; the model sees at most `contextLength` positions. */
  readonly config: { readonly vocabSize: number; readonly contextLength: number };
  /** Where the ids passed to `forwardCached` must live. */
  readonly backend: Backend;
  /** An empty cache for `batch` sequences of up to `contextLength` positions. */
  createCache(batch?: number): Cache;
  /**
   * Runs int32 `ids [B, T]` at positions `cache.length …`, records them in `cache` (advancing
   * its length by T) and returns the next-token logits of the last position, `[B, vocabSize]`.
   * Called inside `noGrad`, in eval mode.
   */
  forwardCached(ids: Tensor, cache: Cache): Tensor;
  /** Every module whose training flag decides dropout and the like (the model itself included). */
  namedModules(): readonly (readonly [string, { training: boolean }])[];
  /** Switches the model and its submodules to eval mode (generate restores each one's flag after). */
  eval(): unknown;
}

/** Options of a padded prefill (see {@link PaddedCausalLM}). */
export interface CachedForwardOptions {
  /**
   * bool `[B, T]`, true at left padding; given with the prefill (the first call after
   * `createCache` or `reset`) only. The cache remembers it, so later steps never see the
   * padding either and each row counts its positions from its first real token.
   */
  padding?: Tensor;
}

/**
 * A {@link CausalLM} that runs a batch of prompts of different lengths together: its
 * `forwardCached` takes the left padding of the prefill (`GPT` is one). `generateBatch` needs
 * it; a model that ignored the padding would let short prompts attend to pad tokens.
 */
export interface PaddedCausalLM<Cache extends GenerationCache = GenerationCache> extends CausalLM<Cache> {
  /** As in {@link CausalLM}, plus the padding of a batched prefill. */
  forwardCached(ids: Tensor, cache: Cache, options?: CachedForwardOptions): Tensor;
}
