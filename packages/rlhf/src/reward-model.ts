// The reward model: a GPT backbone whose vocabulary head is replaced by a scalar head, read at
// the last real token of each row (Hugging Face's `GPT2ForSequenceClassification` /
// `LlamaForSequenceClassification` with `num_labels: 1`). Also the value model of PPO: the same
// network read at every token.
import { Module, noGrad } from '@kiln/autograd';
import { arange, type Tensor } from '@kiln/tensor';
import type { Batch, Objective } from '@kiln/trainer';
import { type GPT, Linear } from '@kiln/transformer';
import { type BradleyTerryOptions, bradleyTerryLoss } from './losses/bradley-terry.js';

/** Options of {@link RewardModel.fromCausalLM}. */
export interface RewardModelOptions {
  /** Standard deviation of the scalar head's initial weights (default 0.02, HF's `initializer_range`). */
  std?: number;
}

/**
 * A scalar-output transformer: `backbone` is a `GPT` whose `head` is `Linear(dModel, 1)` (no
 * bias, as HF's `score`). {@link forward} gives a score per token; {@link score} reads it at each
 * row's last real token.
 */
export class RewardModel extends Module {
  /** The transformer; its `head` is the scalar head (HF `score.weight [1, dModel]`). */
  backbone: GPT;

  /**
   * Wraps `model` (it becomes the backbone and its vocabulary head is replaced: pass a copy,
   * e.g. a fresh `loadModel` of the SFT model, as InstructGPT initialises its reward model).
   */
  static fromCausalLM(model: GPT, options: RewardModelOptions = {}): RewardModel {
    model.head = new Linear(model.config.dModel, 1, {
      bias: false,
      std: options.std ?? 0.02,
      backend: model.backend,
    });
    return new RewardModel(model);
  }

  /** A reward model around a backbone whose head is already scalar (see {@link fromCausalLM}). */
  constructor(backbone: GPT) {
    super();
    if (backbone.head.outFeatures !== 1) {
      throw new RangeError(
        `RewardModel: the backbone's head has ${backbone.head.outFeatures} outputs; use RewardModel.fromCausalLM(model) to replace the vocabulary head with a scalar one`,
      );
    }
    this.backbone = backbone;
  }

  get config(): GPT['config'] {
    return this.backbone.config;
  }

  get backend(): GPT['backend'] {
    return this.backbone.backend;
  }

  /** Scores `[B, T]` at every token of `ids [B, T]` (padding as in `GPT.forward`). */
  forward(ids: Tensor, options: { padding?: Tensor } = {}): Tensor {
    const { logits } = this.backbone.forward(ids, options.padding ? { padding: options.padding } : {});
    return logits.squeeze(-1);
  }

  /**
   * One score per row `[B]`: the score at the last token that is not padding (left or right
   * padding; without padding, the last token), as HF's sequence classifiers read it.
   */
  score(ids: Tensor, options: { padding?: Tensor } = {}): Tensor {
    const scores = this.forward(ids, options);
    return gatherLast(scores, options.padding);
  }
}

/** `x [B, T]` at each row's last non-padding position, `[B]`. */
export function gatherLast(x: Tensor, padding?: Tensor): Tensor {
  const [B, T] = x.shape;
  const index = noGrad(() => {
    if (!padding)
      return arange(T - 1, T, 1, { dtype: 'int32', backend: x.backend })
        .expand([B, 1])
        .contiguous();
    const real = padding.dtype === 'bool' ? padding.logicalNot() : padding.eq(0);
    const positions = arange(0, T, 1, { dtype: 'int32', backend: x.backend }).reshape([1, T]);
    return positions.mul(real.cast('int32')).max(1, true);
  });
  return x.gather(1, index).reshape([B]);
}

/** What a reward model scores of a preference batch: the chosen and rejected rewards `[N]`. */
export function pairRewards(model: RewardModel, batch: Batch): { chosen: Tensor; rejected: Tensor } {
  const rewards = model.score(batch.ids, { padding: batch.padding });
  const N = rewards.shape[0] / 2;
  return { chosen: rewards.slice(0, 0, N), rejected: rewards.slice(0, N, 2 * N) };
}

/**
 * The reward model's objective over batches of `PreferenceSource` (chosen rows, then rejected
 * rows): the Bradley–Terry loss, weight = pairs, metrics `accuracy` (a tie counts ½), `ties` and `margin`.
 */
export function rewardModelObjective(options: BradleyTerryOptions = {}): Objective<RewardModel> {
  return (model, batch) => {
    const { chosen, rejected } = pairRewards(model, batch);
    const out = bradleyTerryLoss(chosen, rejected, options);
    return {
      loss: out.loss,
      weight: chosen.shape[0],
      metrics: { accuracy: out.accuracy, ties: out.ties, margin: out.margin },
    };
  };
}
