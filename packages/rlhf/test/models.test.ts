// The reward model, DPO and PPO on toy data a tiny GPT learns in a few steps: the reward model
// ranks held pairs after training; DPO starts at log 2 with policy = reference (precomputed
// reference log-probabilities and a LoRA base agree) and raises its reward accuracy; PPO raises
// the score of a reward function and penalises a missing end of turn.
import { noGrad } from '@kiln/autograd';
import { init, keep, manualSeed, type Tensor, tensor } from '@kiln/tensor';
import { AdamW, trainStep, uploadBatch } from '@kiln/trainer';
import { applyLoRA, GPT, trainableParameters } from '@kiln/transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dpoObjective,
  gatherLast,
  PPOTrainer,
  PreferenceSource,
  pairRewards,
  precomputeReferenceLogps,
  RewardModel,
  rewardModelObjective,
  type TokenizedPair,
} from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const STOP = 7;
function tiny(seed: number): GPT {
  manualSeed(seed);
  return new GPT({ family: 'gpt2', vocabSize: 8, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 16 });
}
// prompt [p]; the preferred answer is [3, STOP], the other [5, STOP]
const pairs: TokenizedPair[] = [1, 2, 4, 6].map((p) => ({
  prompt: [p],
  chosen: [3, STOP],
  rejected: [5, STOP],
}));

describe('gatherLast', () => {
  it('reads the last real token under right padding, left padding and none', async () => {
    const x = tensor([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    const right = tensor(
      [
        [0, 0, 1, 1],
        [0, 0, 0, 0],
      ],
      { dtype: 'bool' },
    );
    const left = tensor(
      [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
      ],
      { dtype: 'bool' },
    );
    expect(Array.from(await gatherLast(x, right).data())).toEqual([2, 8]);
    expect(Array.from(await gatherLast(x, left).data())).toEqual([4, 8]);
    expect(Array.from(await gatherLast(x).data())).toEqual([4, 8]);
  });
});

describe('reward model', () => {
  it('learns to rank the pairs (Bradley–Terry through trainStep)', async () => {
    const rm = RewardModel.fromCausalLM(tiny(1));
    const source = new PreferenceSource(pairs, { batchSize: 4, seed: 1 });
    const optimizer = new AdamW(trainableParameters(rm), { lr: 1e-2, weightDecay: 0 });
    const accuracy = async () => {
      const batch = uploadBatch(source.next());
      const { chosen, rejected } = noGrad(() => pairRewards(rm, batch));
      return (await chosen.sub(rejected).data()).every((d) => d > 0);
    };
    for (let i = 0; i < 30; i++) trainStep(rm, optimizer, [source.next()], rewardModelObjective());
    expect(await accuracy()).toBe(true);
  });
});

describe('DPO', () => {
  it('starts at log 2, precomputed and LoRA-base references agree, and learns the preference', async () => {
    const policy = tiny(2);
    const ref = await precomputeReferenceLogps(tiny(2), policy, pairs);
    // a LoRA policy's base, adapters disabled, is the same reference without a copy
    const adapted = tiny(2);
    applyLoRA(adapted, { rank: 4, alpha: 8, targets: 'all-linear', seed: 1 });
    const base = await precomputeReferenceLogps('base', adapted, pairs);
    Array.from(ref.refChosen).forEach((v, i) => {
      expect(base.refChosen[i]).toBeCloseTo(v, 5);
    });
    const source = new PreferenceSource(pairs, { batchSize: 4, extras: { ...ref } });
    const objective = dpoObjective({ beta: 0.5 });
    const optimizer = new AdamW(trainableParameters(policy), { lr: 3e-2, weightDecay: 0 });
    const first = trainStep(policy, optimizer, [source.next()], objective);
    expect(await first.loss.item()).toBeCloseTo(Math.log(2), 4);
    let last = first;
    for (let i = 0; i < 15; i++) last = trainStep(policy, optimizer, [source.next()], objective);
    expect(await last.loss.item()).toBeLessThan(0.05);
    expect(await last.metrics['rewards/accuracy'].item()).toBe(1);
  });
});

describe('PPOTrainer', () => {
  it('raises the score of a reward function, logging KL, entropy, clip fraction and value loss', async () => {
    const policy = tiny(3);
    const valueModel = RewardModel.fromCausalLM(tiny(4));
    const trainer = new PPOTrainer<null>({
      policy,
      reference: tiny(3),
      valueModel,
      rewards: [{ name: 'three', fn: (_p, c) => (c.split(' ')[0] === '3' ? 1 : 0) }],
      prompts: [1, 2, 4, 5].map((t) => ({ ids: [t], text: `p${t}`, example: null })),
      decode: (ids) => ids.join(' '),
      stopTokens: [STOP],
      config: {
        promptsPerStep: 16,
        maxCompletionTokens: 3,
        temperature: 1,
        schedule: { kind: 'constant', lr: 2e-2 },
        ppoEpochs: 2,
        numMiniBatches: 2,
        seed: 3,
      },
    });
    const first = await trainer.step();
    for (const key of ['kl', 'entropy', 'clipFraction', 'approxKL', 'valueLoss', 'policyLoss'] as const) {
      expect(Number.isFinite(first[key]), key).toBe(true);
    }
    expect(first.entropy).toBeGreaterThan(0);
    let late = 0;
    for (let i = 0; i < 12; i++) {
      const s = await trainer.step();
      if (i >= 9) late += s.rewards.three / 3;
    }
    expect(late).toBeGreaterThan(first.rewards.three + 0.25);
  });
});

describe('PPOTrainer scoreStopToken', () => {
  /** The last real token of every row the reward model scored, per step. */
  async function scoredEnds(scoreStopToken: boolean | undefined): Promise<{ ends: number[]; stops: number }> {
    const seen: Tensor[] = [];
    // records the token each row is read at (score is synchronous: keep it, read it later)
    class Spy extends RewardModel {
      override score(ids: Tensor, options: { padding?: Tensor } = {}): Tensor {
        seen.push(keep(gatherLast(ids.cast('float32'), options.padding)));
        return super.score(ids, options);
      }
    }
    const trainer = new PPOTrainer<null>({
      policy: tiny(3),
      reference: tiny(3),
      valueModel: RewardModel.fromCausalLM(tiny(4)),
      rewardModel: new Spy(RewardModel.fromCausalLM(tiny(5)).backbone),
      prompts: [1, 2, 4, 5].map((t) => ({ ids: [t], text: `p${t}`, example: null })),
      decode: (ids) => ids.join(' '),
      stopTokens: [STOP],
      ...(scoreStopToken === undefined ? {} : { scoreStopToken }),
      config: { promptsPerStep: 16, maxCompletionTokens: 3, temperature: 1, seed: 3 },
    });
    const s = await trainer.step();
    const ends = Array.from(await seen[0].data()).map(Math.round);
    for (const t of seen) t.dispose();
    return { ends, stops: Math.round(s.finishedFraction * 16) };
  }
  it('scores finished completions with their stop token by default, and without it when false', async () => {
    const kept = await scoredEnds(undefined);
    const dropped = await scoredEnds(false);
    expect(kept.ends).toHaveLength(16);
    // same seed, same rollouts: the finished rows end in STOP only when it is kept
    expect(kept.stops).toBeGreaterThan(0);
    expect(kept.ends.filter((t) => t === STOP)).toHaveLength(kept.stops);
    expect(dropped.stops).toBe(kept.stops);
    expect(dropped.ends.filter((t) => t === STOP)).toHaveLength(0);
  });
});
