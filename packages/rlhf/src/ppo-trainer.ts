// PPOTrainer, InstructGPT-style: rollouts of the policy in one batched, cached pass → a score
// per completion from a reward model and/or reward functions (minus a penalty when no end of
// turn was sampled) → per-token rewards −β·KL with the score on the last token → GAE with a
// separate value model → several epochs of clipped policy and value updates over minibatches,
// each an @kiln/trainer trainStep.
import { noGrad } from '@kiln/autograd';
import { concat, scope, type Tensor, tensor, zeros } from '@kiln/tensor';
import {
  AdamW,
  createSchedule,
  type HostTensor,
  type LrSchedule,
  type Objective,
  type Optimizer,
  trainStep,
} from '@kiln/trainer';
import { type GPT, trainableParameters } from '@kiln/transformer';
import { sequenceLogprobs, tokenEntropy, tokenLogprobs } from './logprobs.js';
import { gae } from './losses/gae.js';
import { klPenalty } from './losses/kl.js';
import { maskedMean, maskedWhiten } from './losses/masked.js';
import { ppoLosses, ppoValueLoss } from './losses/ppo.js';
import { type PPOConfig, resolvePPOConfig } from './ppo-config.js';
import { PromptOrder, type RunPosition } from './prompt-order.js';
import { checkReference, type ReferenceModel, referenceLogprobs } from './reference.js';
import type { RewardModel } from './reward-model.js';
import { checkRewardFunctions, type RewardFunction, type RLPrompt, scoreCompletions } from './rewards.js';
import { checkRolloutInputs, rollout, rolloutRows } from './rollout.js';

/** Options of {@link PPOTrainer}. */
export interface PPOTrainerOptions<E> {
  /** The policy being trained. */
  policy: GPT;
  /** The frozen reference of the KL penalty: a model, or `'base'` for a LoRA policy's base. */
  reference: ReferenceModel;
  /** The value model (per-token values): a `RewardModel`, usually initialised from the reward model. */
  valueModel: RewardModel;
  /** Scores whole completions (its `score`); with `rewards`, the two are added. */
  rewardModel?: RewardModel;
  /**
   * Whether the reward model reads a finished completion with the stop token that ended it
   * (default true: HF's reward models read the last token, the end of turn). Give false for a
   * reward model trained on answers without it: it then reads the last answer token, as it
   * was trained (an SFT model's end-of-turn state can be blind to the answer; see docs/rlhf.md).
   */
  scoreStopToken?: boolean;
  /** Reward functions added to the reward model's score. */
  rewards?: readonly RewardFunction<E>[];
  prompts: readonly RLPrompt<E>[];
  decode: (ids: number[]) => string;
  stopTokens: readonly number[];
  padId?: number;
  config?: Partial<PPOConfig>;
  /** Optimizers (default AdamW, no weight decay, over each model's trainable parameters). */
  optimizer?: Optimizer;
  valueOptimizer?: Optimizer;
}

/** What one {@link PPOTrainer.step} logged. */
export interface PPOStepResult {
  step: number;
  /** Mean score (reward model + functions − missing-EOS penalty) per completion. */
  score: number;
  /** Mean of the whole episode's reward: score − β·Σ_t KL_t. */
  reward: number;
  /** Mean per-sequence KL to the reference (Σ over the completion's tokens of the estimator). */
  kl: number;
  /** Mean token entropy of the policy on its completions. */
  entropy: number;
  clipFraction: number;
  approxKL: number;
  policyLoss: number;
  valueLoss: number;
  valueClipFraction: number;
  completionLength: number;
  finishedFraction: number;
  /** Each reward function's mean, by name, and `rewardModel` when there is one. */
  rewards: Record<string, number>;
  generationSeconds: number;
  rewardSeconds: number;
  optimisationSeconds: number;
  rolloutTokensPerSecond: number;
}

/** Proximal Policy Optimization with a reward model and/or reward functions and a separate value model. */
export class PPOTrainer<E = unknown> {
  readonly config: PPOConfig;
  readonly optimizer: Optimizer;
  readonly valueOptimizer: Optimizer;
  stepCount = 0;
  readonly #o: PPOTrainerOptions<E>;
  readonly #rewards: RewardFunction<E>[];
  readonly #order: PromptOrder;
  readonly #schedule: LrSchedule;
  readonly #valueSchedule: LrSchedule;

  constructor(options: PPOTrainerOptions<E>) {
    const who = 'PPOTrainer';
    this.config = resolvePPOConfig(options.config);
    this.#o = options;
    if (!options.rewardModel && !options.rewards?.length) {
      throw new TypeError(`${who}: give a rewardModel, reward functions, or both`);
    }
    this.#rewards = options.rewards?.length ? checkRewardFunctions(options.rewards, who) : [];
    checkReference(options.reference, options.policy, who);
    if (!options.valueModel)
      throw new TypeError(
        `${who}: give a valueModel (e.g. RewardModel.fromCausalLM of the reward model's weights)`,
      );
    checkRolloutInputs(
      options.prompts,
      options.stopTokens,
      options.policy.config.contextLength,
      this.config.maxCompletionTokens,
      who,
    );
    this.#order = new PromptOrder(options.prompts.length, this.config.seed);
    this.#schedule = createSchedule(this.config.schedule);
    this.#valueSchedule = createSchedule(this.config.valueSchedule ?? this.config.schedule);
    this.optimizer =
      options.optimizer ??
      new AdamW(trainableParameters(options.policy), { lr: this.#schedule(0), weightDecay: 0 });
    this.valueOptimizer =
      options.valueOptimizer ??
      new AdamW(trainableParameters(options.valueModel), { lr: this.#valueSchedule(0), weightDecay: 0 });
  }

  /** The policy being trained. */
  get policy(): GPT {
    return this.#o.policy;
  }

  /** The value model being trained. */
  get valueModel(): RewardModel {
    return this.#o.valueModel;
  }

  /**
   * The run's position: steps taken and the prompt order's place. With the two models' weights
   * and optimizer states (see `savePPOCheckpoint`) it is everything a resumed run needs: the
   * rollouts' and minibatches' seeds derive from the config's seed and the step.
   */
  state(): RunPosition {
    return { step: this.stepCount, order: this.#order.state() };
  }

  /** Continues from a {@link state} (restore the models' and optimizers' state separately). */
  restore(state: RunPosition): void {
    this.stepCount = state.step;
    this.#order.restore(state.order);
  }

  /** One PPO step: rollouts, scores, advantages, `ppoEpochs` × `numMiniBatches` updates of both models. */
  async step(): Promise<PPOStepResult> {
    const c = this.config;
    const { policy, reference, valueModel, rewardModel, decode, stopTokens, padId = 0 } = this.#o;
    const prompts = this.#order.take(c.promptsPerStep).map((i) => this.#o.prompts[i]);
    const N = prompts.length;

    const rolled = await rollout(
      policy,
      prompts.map((p) => p.ids),
      {
        maxTokens: c.maxCompletionTokens,
        temperature: c.temperature,
        stopTokens,
        seed: (c.seed * 1_000_003 + this.stepCount) % 2 ** 31,
      },
    );
    const texts = rolled.completions.map((ids, i) => decode(rolled.finished[i] ? ids.slice(0, -1) : ids));
    const layout = rolloutRows(rolled.prompts, rolled.completions, padId);
    const L = layout.length;
    // the last completion token of each row carries the score
    const last = new Float32Array(N * L);
    rolled.prompts.forEach((p, i) => {
      last[i * L + p.length + rolled.completions[i].length - 1] = 1;
    });

    const rewardStart = performance.now();
    const fromFunctions = this.#rewards.length
      ? await scoreCompletions(
          this.#rewards,
          prompts.map((prompt, i) => ({ prompt, completion: texts[i] })),
        )
      : undefined;
    const backend = policy.backend;
    const up = (h: HostTensor) => tensor(h.data, { shape: h.shape, dtype: h.dtype, backend });
    // the reward model reads the rows it was trained on: with or without the stop token
    const scored =
      this.#o.scoreStopToken === false
        ? rolloutRows(
            rolled.prompts,
            rolled.completions.map((ids, i) => (rolled.finished[i] ? ids.slice(0, -1) : ids)),
            padId,
          )
        : layout;
    const rmScores = rewardModel
      ? await scope(async () =>
          Array.from(
            await noGrad(() => rewardModel.score(up(scored.ids), { padding: up(scored.padding) })).data(),
          ),
        )
      : undefined;
    const scores = prompts.map(
      (_, i) =>
        (rmScores?.[i] ?? 0) +
        (fromFunctions?.total[i] ?? 0) -
        (rolled.finished[i] ? 0 : c.missingEosPenalty),
    );
    const rewardSeconds = (performance.now() - rewardStart) / 1000;

    const optStart = performance.now();
    const lr = this.#schedule(this.stepCount);
    const valueLr = this.#valueSchedule(this.stepCount);
    const read = await scope(async () => {
      const ids = up(layout.ids);
      const mask = up(layout.mask);
      const padding = up(layout.padding);
      const lastToken = tensor(last, { shape: [N, L], backend });
      // values of the state before each token: the value head at the previous position
      const shiftedValues = (model: RewardModel, i: Tensor, p: Tensor) => {
        const v = model.forward(i, { padding: p });
        return concat([zeros([v.shape[0], 1], { backend }), v.slice(1, 0, L - 1)], 1);
      };
      const before = noGrad(() => {
        const { logits } = policy.forward(ids, { padding });
        const scaled = c.temperature === 1 ? logits : logits.div(c.temperature);
        const oldLogps = tokenLogprobs(scaled, ids, mask);
        const entropyRaw = tokenEntropy(scaled);
        const entropy = concat([zeros([N, 1], { backend }), entropyRaw.slice(1, 0, L - 1)], 1);
        const refLogps = referenceLogprobs(reference, policy, ids, mask, padding, c.temperature);
        const kl = klPenalty(oldLogps, refLogps, c.klEstimator).mul(mask);
        const oldValues = shiftedValues(valueModel, ids, padding).mul(mask);
        const score = tensor(scores, { backend }).reshape([N, 1]);
        const rewards = kl.mul(-c.klCoef).add(lastToken.mul(score));
        const { advantages, returns } = gae(rewards, oldValues, mask, { gamma: c.gamma, lambda: c.lambda });
        return {
          oldLogps,
          oldValues,
          returns,
          advantages: c.whitenAdvantages ? maskedWhiten(advantages, mask) : advantages,
          klPerSequence: kl.sum(1),
          entropy: maskedMean(entropy, mask),
          rewardPerSequence: rewards.mul(mask).sum(1),
        };
      });
      const policyObjective: Objective<GPT> = (model, batch) => {
        const logps = sequenceLogprobs(model, batch.ids, batch.mask, {
          padding: batch.padding,
          temperature: c.temperature,
        });
        const out = ppoLosses(
          { logps, oldLogps: batch.oldLogps, advantages: batch.advantages, mask: batch.mask },
          { clipRange: c.clipRange },
        );
        return {
          loss: out.policyLoss,
          weight: batch.mask.sum(),
          metrics: { clipFraction: out.clipFraction, approxKL: out.approxKL },
        };
      };
      const valueObjective: Objective<RewardModel> = (model, batch) => {
        const values = shiftedValues(model, batch.ids, batch.padding);
        const out = ppoValueLoss(values, batch.oldValues, batch.returns, batch.mask, c.clipRangeValue);
        return {
          loss: out.valueLoss,
          weight: batch.mask.sum(),
          metrics: { valueClipFraction: out.valueClipFraction },
        };
      };
      const size = N / c.numMiniBatches;
      let stats = { policyLoss: 0, valueLoss: 0, clipFraction: 0, approxKL: 0, valueClipFraction: 0 };
      let count = 0;
      let seed = (c.seed * 7919 + this.stepCount) >>> 0;
      for (let epoch = 0; epoch < c.ppoEpochs; epoch++) {
        const order = new PromptOrder(N, (seed = (seed * 48271 + 1) % 2147483647)).take(N);
        for (let b = 0; b < c.numMiniBatches; b++) {
          const index = tensor(order.slice(b * size, (b + 1) * size), { dtype: 'int32', backend });
          const pick = (t: Tensor) => t.indexSelect(0, index);
          const batch = {
            ids: pick(ids),
            mask: pick(mask),
            padding: pick(padding),
            oldLogps: pick(before.oldLogps),
            advantages: pick(before.advantages),
            oldValues: pick(before.oldValues),
            returns: pick(before.returns),
          };
          const p = trainStep(policy, this.optimizer, [batch], policyObjective, { gradClip: c.gradClip, lr });
          const v = trainStep(valueModel, this.valueOptimizer, [batch], valueObjective, {
            gradClip: c.gradClip,
            lr: valueLr,
          });
          const values = {
            policyLoss: await p.loss.item(),
            valueLoss: await v.loss.item(),
            clipFraction: await p.metrics.clipFraction.item(),
            approxKL: await p.metrics.approxKL.item(),
            valueClipFraction: await v.metrics.valueClipFraction.item(),
          };
          for (const r of [p, v])
            for (const t of [r.loss, r.weight, r.gradNorm, ...Object.values(r.metrics)]) t.dispose();
          stats = Object.fromEntries(
            Object.entries(stats).map(([k, x]) => [k, x + values[k as keyof typeof values]]),
          ) as typeof stats;
          count++;
        }
      }
      const perSequence = (t: Tensor) => t.data().then((d) => Array.from(d));
      return {
        ...(Object.fromEntries(Object.entries(stats).map(([k, x]) => [k, x / count])) as typeof stats),
        kl: await perSequence(before.klPerSequence),
        reward: await perSequence(before.rewardPerSequence),
        entropy: await before.entropy.item(),
      };
    });
    const optimisationSeconds = (performance.now() - optStart) / 1000;
    const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rewards: Record<string, number> = {};
    if (rmScores) rewards.rewardModel = meanOf(rmScores);
    for (const [name, values] of Object.entries(fromFunctions?.byFunction ?? {}))
      rewards[name] = meanOf(values);
    const result: PPOStepResult = {
      step: this.stepCount,
      score: meanOf(scores),
      reward: meanOf(read.reward),
      kl: meanOf(read.kl),
      entropy: read.entropy,
      clipFraction: read.clipFraction,
      approxKL: read.approxKL,
      policyLoss: read.policyLoss,
      valueLoss: read.valueLoss,
      valueClipFraction: read.valueClipFraction,
      completionLength: rolled.tokens / N,
      finishedFraction: rolled.finished.filter(Boolean).length / N,
      rewards,
      generationSeconds: rolled.seconds,
      rewardSeconds,
      optimisationSeconds,
      rolloutTokensPerSecond: rolled.tokens / rolled.seconds,
    };
    this.stepCount++;
    return result;
  }
}
