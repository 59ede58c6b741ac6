// Models often have more vocabulary rows than their tokenizer has tokens (rounded up for fast
// matrix products; Hugging Face checkpoints pad to a multiple of 64 or 128). Those extra ids
// mean nothing to the tokenizer, so the chat samples among the tokenizer's ids only.
import { scope, type Tensor } from '@kiln/tensor';
import type { CausalLM, GenerationCache } from '@kiln/transformer';

/**
 * `model` with its next-token logits cut to the first `vocabSize` ids, as a `CausalLM` for
 * `generate` (the same as `model` when the sizes agree). Sampling then never picks an id the
 * tokenizer cannot decode.
 */
export function withVocabulary<Cache extends GenerationCache>(
  model: CausalLM<Cache>,
  vocabSize: number,
): CausalLM<Cache> {
  if (vocabSize === model.config.vocabSize) return model;
  if (vocabSize > model.config.vocabSize) {
    throw new Error(
      `the tokenizer has ${vocabSize} tokens but the model only ${model.config.vocabSize}; pass the model's own tokenizer with --tokenizer`,
    );
  }
  return {
    config: { vocabSize, contextLength: model.config.contextLength },
    get backend() {
      return model.backend;
    },
    createCache: (batch) => model.createCache(batch),
    forwardCached: (ids: Tensor, cache: Cache) =>
      scope(() => model.forwardCached(ids, cache).slice(1, 0, vocabSize).contiguous()),
    namedModules: () => model.namedModules(),
    eval: () => model.eval(),
  };
}
