// GRPOTrainer: one step = draw B prompts → generate G completions of each in one batched pass →
// score them with the reward functions → group-relative advantages → the clipped GRPO loss
// through @kiln/trainer's trainStep (μ passes). The RL loop is here; the optimizer, clipping,
// accumulation and schedules are the trainer's.
import { detach, noGrad } from '@kiln/autograd';
import { scope, type Tensor, tensor } from '@kiln/tensor';
import {
  AdamW,
  type BatchInput,
  createSchedule,
  type HostTensor,
  type LrSchedule,
  type Objective,
  type Optimizer,
  trainStep,
} from '@kiln/trainer';
import { type GPT, trainableParameters } from '@kiln/transformer';
import { type GRPOConfig, resolveGRPOConfig } from './grpo-config.js';
import { sequenceLogprobs } from './logprobs.js';
import { grpoAdvantages, grpoLoss, rlooAdvantages } from './losses/grpo.js';
import { PromptOrder, type RunPosition } from './prompt-order.js';
import { checkReference, type ReferenceModel, referenceLogprobs } from './reference.js';
import { checkRewardFunctions, type RewardFunction, type RLPrompt, scoreCompletions } from './rewards.js';
import { checkRolloutInputs, rollout, rolloutRows } from './rollout.js';

/** Options of {@link GRPOTrainer}. */
export interface GRPOTrainerOptions<E> {
  /** The policy being trained (a `GPT`, possibly with LoRA adapters: then only they train). */
  policy: GPT;
  /**
   * The frozen reference for the KL term and its log: a model, `'base'` (the LoRA policy's base,
   * adapters disabled), or absent (no KL: neither penalised nor logged).
   */
  reference?: ReferenceModel;
  /** The prompts to draw from, with the records the reward functions get. */
  prompts: readonly RLPrompt<E>[];
  /** The reward functions (machine feedback), combined by weight. */
  rewards: readonly RewardFunction<E>[];
  /** Completion ids → text, for the reward functions (the stop token is not passed). */
  decode: (ids: number[]) => string;
  /** End-of-turn ids: sampling one ends a completion. */
  stopTokens: readonly number[];
  /** Token id of the padding of training rows (never attended to; default 0). */
  padId?: number;
  /** The run's settings over {@link GRPO_DEFAULTS}. */
  config?: Partial<GRPOConfig>;
  /** The optimizer (default AdamW over the trainable parameters, betas (0.9, 0.999), TRL's). */
  optimizer?: Optimizer;
}

/** What one {@link GRPOTrainer.step} did, read back once at its end. */
export interface GRPOStepResult {
  step: number;
  /** Mean total reward of the rollouts (every round's, under `dynamicSampling`). */
  reward: number;
  /** Standard deviation of the total reward over the rollouts. */
  rewardStd: number;
  /** Mean of each reward function, by name. */
  rewards: Record<string, number>;
  /** Fraction of the sampled groups whose rewards were all equal (no learning signal). */
  zeroStdFraction: number;
  /** Groups the optimisation learned from (B, or under `dynamicSampling` the informative ones, at most B). */
  groups: number;
  /** Rollout rounds sampled (1 unless `dynamicSampling`). */
  samplingRounds: number;
  loss: number;
  /** Mean k3 KL to the reference over the optimised completions' tokens (NaN without a reference or with no group to learn from), before the update. */
  kl: number;
  clipFraction: number;
  gradNorm: number;
  lr: number;
  /** Mean completion length in tokens (the stop token included). */
  completionLength: number;
  /** Fraction of completions that ended with a stop token. */
  finishedFraction: number;
  /** Seconds generating, scoring, and optimising. */
  generationSeconds: number;
  rewardSeconds: number;
  optimisationSeconds: number;
  /** Generated tokens per second of generation. */
  rolloutTokensPerSecond: number;
  /** A few rollouts of this step: prompt, completion, reward. */
  samples: { prompt: string; completion: string; reward: number }[];
}

/**
 * Group Relative Policy Optimization (and RLOO) with reward functions. Call {@link step} in a
 * loop; each step is independent of the others except through the policy and the optimizer.
 */
export class GRPOTrainer<E = unknown> {
  readonly config: GRPOConfig;
  readonly policy: GPT;
  readonly optimizer: Optimizer;
  /** Steps taken so far. */
  stepCount = 0;
  readonly #options: GRPOTrainerOptions<E>;
  readonly #rewards: RewardFunction<E>[];
  readonly #order: PromptOrder;
  readonly #schedule: LrSchedule;

  constructor(options: GRPOTrainerOptions<E>) {
    const who = 'GRPOTrainer';
    this.config = resolveGRPOConfig(options.config);
    this.policy = options.policy;
    this.#options = options;
    this.#rewards = checkRewardFunctions(options.rewards, who);
    checkReference(options.reference, options.policy, who);
    checkRolloutInputs(
      options.prompts,
      options.stopTokens,
      options.policy.config.contextLength,
      this.config.maxCompletionTokens,
      who,
    );
    this.#order = new PromptOrder(options.prompts.length, this.config.seed);
    this.#schedule = createSchedule(this.config.schedule);
    this.optimizer =
      options.optimizer ??
      new AdamW(trainableParameters(options.policy), {
        lr: this.#schedule(0),
        weightDecay: this.config.weightDecay,
      });
  }

  /** The prompt order's position (JSON), for resuming a run at the same prompts. */
  state(): RunPosition {
    return { step: this.stepCount, order: this.#order.state() };
  }

  /** Continues from a {@link state} (restore the policy's and optimizer's state separately). */
  restore(state: RunPosition): void {
    this.stepCount = state.step;
    this.#order.restore(state.order);
  }

  /**
   * One GRPO step: rollouts, rewards, advantages, `iterations` optimizer steps. Under
   * `dynamicSampling`, groups whose rewards all agree are dropped and fresh prompts sampled in
   * further rounds (see {@link GRPOConfig.dynamicSampling}).
   */
  async step(): Promise<GRPOStepResult> {
    const c = this.config;

    // 1. Rollouts (each round's B·G completions in one batched, cached pass) and 2. machine
    // feedback; under dynamic sampling more rounds until B groups disagree within themselves.
    const rounds = c.dynamicSampling ? c.maxSamplingRounds : 1;
    const kept: SampledGroup<E>[] = [];
    const all: SampledGroup<E>[] = [];
    let generationSeconds = 0;
    let rewardSeconds = 0;
    let round = 0;
    for (; round < rounds && (round === 0 || kept.length < c.promptsPerStep); round++) {
      const sampled = await this.#sampleRound(round);
      generationSeconds += sampled.generationSeconds;
      rewardSeconds += sampled.rewardSeconds;
      for (const group of sampled.groups) {
        all.push(group);
        const informative = group.total.some((r) => r !== group.total[0]);
        if (!c.dynamicSampling || (informative && kept.length < c.promptsPerStep)) kept.push(group);
      }
    }

    // 3. Advantages and 4. the optimisation, on the device (nothing to learn from: no update).
    const optStart = performance.now();
    const lr = this.#schedule(this.stepCount);
    const read =
      kept.length > 0
        ? await this.#optimise(kept, lr)
        : { loss: 0, kl: Number.NaN, clipFraction: 0, gradNorm: 0 };
    const optimisationSeconds = (performance.now() - optStart) / 1000;

    // The rollouts' statistics are over everything sampled (what the policy does), the
    // optimisation's over the groups it learned from.
    const meanOf = (xs: number[]) =>
      xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
    const totals = all.flatMap((g) => g.total);
    const reward = meanOf(totals);
    const byFunction: Record<string, number[]> = {};
    for (const g of all) for (const [k, v] of Object.entries(g.byFunction)) (byFunction[k] ??= []).push(...v);
    const rows = all.flatMap((g) => g.completions);
    const tokens = rows.reduce((a, x) => a + x.length, 0);
    const result: GRPOStepResult = {
      step: this.stepCount,
      reward,
      rewardStd: Math.sqrt(meanOf(totals.map((r) => (r - reward) ** 2))),
      rewards: Object.fromEntries(Object.entries(byFunction).map(([k, v]) => [k, meanOf(v)])),
      zeroStdFraction: all.filter((g) => g.total.every((r) => r === g.total[0])).length / all.length,
      groups: kept.length,
      samplingRounds: round,
      loss: read.loss,
      kl: this.#options.reference ? read.kl : Number.NaN,
      clipFraction: read.clipFraction,
      gradNorm: read.gradNorm,
      lr,
      completionLength: tokens / rows.length,
      finishedFraction: all.flatMap((g) => g.finished).filter(Boolean).length / rows.length,
      generationSeconds,
      rewardSeconds,
      optimisationSeconds,
      rolloutTokensPerSecond: tokens / generationSeconds,
      samples: all
        .slice(0, 2)
        .map((g) => ({ prompt: g.prompt.text, completion: g.texts[0], reward: g.total[0] })),
    };
    this.stepCount++;
    return result;
  }

  /** Draws B prompts, generates G completions of each in one batched pass, and scores them. */
  async #sampleRound(
    round: number,
  ): Promise<{ groups: SampledGroup<E>[]; generationSeconds: number; rewardSeconds: number }> {
    const c = this.config;
    const { policy, decode, stopTokens } = this.#options;
    const G = c.groupSize;
    const prompts = this.#order.take(c.promptsPerStep).map((i) => this.#options.prompts[i]);
    const rowsPrompts = prompts.flatMap((p) => Array.from({ length: G }, () => p));
    const rolled = await rollout(
      policy,
      rowsPrompts.map((p) => p.ids),
      {
        maxTokens: c.maxCompletionTokens,
        temperature: c.temperature,
        topK: c.topK,
        topP: c.topP,
        stopTokens,
        // round 0 keeps the seed a run without dynamic sampling uses
        seed: (c.seed * 1_000_003 + this.stepCount + round * 104_729) % 2 ** 31,
      },
    );
    const texts = rolled.completions.map((ids, i) => decode(rolled.finished[i] ? ids.slice(0, -1) : ids));
    const rewardStart = performance.now();
    const scored = await scoreCompletions(
      this.#rewards,
      rowsPrompts.map((prompt, i) => ({ prompt, completion: texts[i] })),
    );
    const rewardSeconds = (performance.now() - rewardStart) / 1000;
    const groups = prompts.map((prompt, p) => {
      const part = <T>(xs: readonly T[]) => xs.slice(p * G, (p + 1) * G);
      return {
        prompt,
        completions: part(rolled.completions),
        finished: part(rolled.finished),
        texts: part(texts),
        total: part(scored.total),
        byFunction: Object.fromEntries(Object.entries(scored.byFunction).map(([k, v]) => [k, part(v)])),
      };
    });
    return { groups, generationSeconds: rolled.seconds, rewardSeconds };
  }

  /** Advantages and `iterations` optimizer steps on the groups, on the device; the first pass's numbers. */
  async #optimise(
    groups: readonly SampledGroup<E>[],
    lr: number,
  ): Promise<{ loss: number; kl: number; clipFraction: number; gradNorm: number }> {
    const c = this.config;
    const { policy, padId = 0, reference } = this.#options;
    const G = c.groupSize;
    const layout = rolloutRows(
      groups.flatMap((g) => Array.from({ length: G }, () => g.prompt.ids)),
      groups.flatMap((g) => g.completions),
      padId,
    );
    const N = groups.length * G;
    const micro = c.microBatchSize ?? N;
    return scope(async () => {
      const backend = policy.backend;
      const up = (h: HostTensor) => tensor(h.data, { shape: h.shape, dtype: h.dtype, backend });
      const ids = up(layout.ids);
      const mask = up(layout.mask);
      const padding = up(layout.padding);
      const rewards = tensor(
        groups.flatMap((g) => g.total),
        { backend },
      );
      const advantages =
        c.advantage === 'rloo'
          ? rlooAdvantages(rewards, G)
          : grpoAdvantages(rewards, G, { scale: c.scaleRewards });
      const chunks: [number, number][] = [];
      for (let s = 0; s < N; s += micro) chunks.push([s, Math.min(N, s + micro)]);
      const rows = (t: Tensor, [s, e]: [number, number]) => t.slice(0, s, e);
      const refLogps = reference
        ? chunks.map((ch) =>
            referenceLogprobs(
              reference,
              policy,
              rows(ids, ch),
              rows(mask, ch),
              rows(padding, ch),
              c.temperature,
            ),
          )
        : undefined;
      // π_old: the policy before this step's updates (only needed for μ > 1; with μ = 1 the
      // ratio is exp(logp − detach(logp)) = 1 with the right gradient)
      const oldLogps =
        c.iterations > 1
          ? chunks.map((ch) =>
              noGrad(() =>
                sequenceLogprobs(policy, rows(ids, ch), rows(mask, ch), {
                  padding: rows(padding, ch),
                  temperature: c.temperature,
                }),
              ),
            )
          : undefined;
      const objective: Objective<GPT> = (model, batch) => {
        const logps = sequenceLogprobs(model, batch.ids, batch.mask, {
          padding: batch.padding,
          temperature: c.temperature,
        });
        const out = grpoLoss(
          {
            logps,
            oldLogps: batch.oldLogps ?? detach(logps),
            refLogps: batch.refLogps,
            advantages: batch.advantages,
            mask: batch.mask,
          },
          {
            epsilon: c.epsilon,
            epsilonHigh: c.epsilonHigh,
            beta: c.beta,
            lossType: c.lossType,
            maxCompletionLength: c.maxCompletionTokens,
          },
        );
        return {
          loss: out.loss,
          weight: out.weight,
          metrics: { kl: out.kl, clipFraction: out.clipFraction },
        };
      };
      const batches = (): BatchInput[] =>
        chunks.map((ch, i) => ({
          ids: rows(ids, ch),
          mask: rows(mask, ch),
          padding: rows(padding, ch),
          advantages: advantages.slice(0, ch[0], ch[1]),
          ...(refLogps ? { refLogps: refLogps[i] } : {}),
          ...(oldLogps ? { oldLogps: oldLogps[i] } : {}),
        }));
      let first: { loss: number; kl: number; clipFraction: number; gradNorm: number } | undefined;
      for (let it = 0; it < c.iterations; it++) {
        const result = trainStep(policy, this.optimizer, batches(), objective, { gradClip: c.gradClip, lr });
        const values = {
          loss: await result.loss.item(),
          kl: await result.metrics.kl.item(),
          clipFraction: await result.metrics.clipFraction.item(),
          gradNorm: await result.gradNorm.item(),
        };
        first ??= values;
        if (it === c.iterations - 1) first.clipFraction = values.clipFraction;
        for (const t of [result.loss, result.weight, result.gradNorm, ...Object.values(result.metrics)])
          t.dispose();
      }
      return first!;
    });
  }
}

/** One prompt's G rollouts and their rewards. */
interface SampledGroup<E> {
  prompt: RLPrompt<E>;
  completions: number[][];
  finished: boolean[];
  texts: string[];
  total: number[];
  byFunction: Record<string, number[]>;
}
