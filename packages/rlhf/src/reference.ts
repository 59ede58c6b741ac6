// The frozen reference model of preference and RL training: a separate model, or — for a LoRA
// policy — the policy's own base with its adapters switched off (no second copy in memory).
import { noGrad } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { type GPT, hasLoRA, withAdaptersDisabled } from '@kiln/transformer';
import { type LogprobModel, sequenceLogprobs } from './logprobs.js';

/** A reference: a frozen model, or `'base'` for the LoRA policy's base (adapters disabled). */
export type ReferenceModel = LogprobModel | 'base';

/** Throws unless `reference` can serve as the reference of `policy`. */
export function checkReference(reference: ReferenceModel | undefined, policy: GPT, who: string): void {
  if (reference === 'base' && !hasLoRA(policy)) {
    throw new TypeError(
      `${who}: reference 'base' means the LoRA policy with its adapters disabled, but the policy has no adapters; applyLoRA(policy, …) first or pass a reference model`,
    );
  }
  if (reference === policy) {
    throw new TypeError(
      `${who}: the reference is the policy itself; pass a frozen copy, or 'base' for a LoRA policy`,
    );
  }
}

/** Per-token log-probabilities of `ids` under the reference, without gradients (see `sequenceLogprobs`). */
export function referenceLogprobs(
  reference: ReferenceModel,
  policy: GPT,
  ids: Tensor,
  mask: Tensor,
  padding?: Tensor,
  temperature = 1,
): Tensor {
  const options = { padding, temperature };
  return noGrad(() =>
    reference === 'base'
      ? withAdaptersDisabled(policy, () => sequenceLogprobs(policy, ids, mask, options))
      : sequenceLogprobs(reference, ids, mask, options),
  );
}
