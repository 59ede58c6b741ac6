// DPO as an Objective for @kiln/trainer's Trainer: the policy's sequence log-probabilities of
// each pair's chosen and rejected answers in one forward pass, against reference
// log-probabilities computed once before training (so the reference model need not stay in
// memory), or against a LoRA policy's base with its adapters disabled.
import { noGrad } from '@kiln/autograd';
import { scope, tensor } from '@kiln/tensor';
import type { Objective } from '@kiln/trainer';
import type { GPT } from '@kiln/transformer';
import { sequenceLogprobs } from './logprobs.js';
import { type DPOLossOptions, dpoLoss } from './losses/dpo.js';
import { preferenceRows, type TokenizedPair } from './preferences.js';
import { checkReference, type ReferenceModel, referenceLogprobs } from './reference.js';

/** The settings of DPO (the training loop's are the Trainer's `TrainConfigInput`). */
export interface DPOConfig extends DPOLossOptions {
  /**
   * Average the answer's token log-probabilities instead of summing them (default: true for
   * IPO, false otherwise, as TRL).
   */
  averageLogps?: boolean;
}

/** TRL's `DPOConfig` defaults: β 0.1, sigmoid loss, no label smoothing. */
export const DPO_DEFAULTS: Required<Omit<DPOConfig, 'averageLogps'>> = {
  beta: 0.1,
  lossType: 'sigmoid',
  labelSmoothing: 0,
};

/** Reference sequence log-probabilities of every pair, `[N]` each, for `PreferenceSource`'s extras. */
export interface ReferenceLogps {
  refChosen: Float32Array;
  refRejected: Float32Array;
}

/**
 * Computes the reference's sequence log-probabilities of each pair's answers once, in batches
 * of `batchSize` pairs, without gradients: the reference model can then be freed (TRL's
 * `precompute_ref_log_probs`). `reference` is a model, or `'base'` for `policy`'s LoRA base.
 */
export async function precomputeReferenceLogps(
  reference: ReferenceModel,
  policy: GPT,
  pairs: readonly TokenizedPair[],
  options: { batchSize?: number; padId?: number; average?: boolean } = {},
): Promise<ReferenceLogps> {
  checkReference(reference, policy, 'precomputeReferenceLogps');
  const { batchSize = 32, padId = 0, average = false } = options;
  const refChosen = new Float32Array(pairs.length);
  const refRejected = new Float32Array(pairs.length);
  for (let s = 0; s < pairs.length; s += batchSize) {
    const part = pairs.slice(s, s + batchSize);
    const values = await scope(async () => {
      const rows = preferenceRows(part, padId);
      const up = (h: (typeof rows)['ids']) =>
        tensor(h.data, { shape: h.shape, dtype: h.dtype, backend: policy.backend });
      const ids = up(rows.ids);
      const mask = up(rows.mask);
      const logps = referenceLogprobs(reference, policy, ids, mask, up(rows.padding)).sum(-1);
      return (average ? logps.div(mask.sum(-1)) : logps).data();
    });
    part.forEach((_, i) => {
      refChosen[s + i] = values[i];
      refRejected[s + i] = values[part.length + i];
    });
  }
  return { refChosen, refRejected };
}

/**
 * The DPO objective over `PreferenceSource` batches that carry `refChosen` and `refRejected`
 * (from {@link precomputeReferenceLogps}): weight = pairs; metrics: the implicit rewards of
 * chosen and rejected answers, their margin, and reward accuracy (chosen > rejected).
 */
export function dpoObjective(config: Partial<DPOConfig> = {}): Objective<GPT> {
  const options = { ...DPO_DEFAULTS, ...config };
  const average = config.averageLogps ?? options.lossType === 'ipo';
  return (model, batch) => {
    const { ids, mask, padding, refChosen, refRejected } = batch;
    if (!refChosen || !refRejected) {
      throw new TypeError(
        'dpoObjective: the batch has no refChosen/refRejected; precomputeReferenceLogps and pass them as PreferenceSource extras',
      );
    }
    let logps = sequenceLogprobs(model, ids, mask, { padding }).sum(-1);
    if (average) logps = logps.div(noGrad(() => mask.sum(-1)));
    const N = refChosen.shape[0];
    const out = dpoLoss(logps.slice(0, 0, N), logps.slice(0, N, 2 * N), refChosen, refRejected, options);
    const metrics = noGrad(() => ({
      'rewards/chosen': out.chosenRewards.mean(),
      'rewards/rejected': out.rejectedRewards.mean(),
      'rewards/margin': out.chosenRewards.sub(out.rejectedRewards).mean(),
      'rewards/accuracy': out.chosenRewards.gt(out.rejectedRewards).cast('float32').mean(),
    }));
    return { loss: out.loss, weight: N, metrics };
  };
}
