// GRPOTrainer end to end on a toy task a tiny random GPT can learn in a few steps: the prompt
// is one token, the reward is whether the completion starts with token 3. The mean reward must
// rise well above its start; RLOO and a LoRA policy against its own base (adapters disabled)
// run the same loop; bad inputs are errors that name the example.
import { init, manualSeed } from '@kiln/tensor';
import { applyLoRA, GPT, trainableParameters } from '@kiln/transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { GRPOTrainer, type RewardFunction, type RLPrompt } from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const STOP = 7;
const prompts: RLPrompt<{ want: number }>[] = [1, 2, 4, 5].map((t) => ({
  ids: [t],
  text: `p${t}`,
  example: { want: 3 },
}));
const decode = (ids: number[]) => ids.join(' ');
const startsWith3: RewardFunction<{ want: number }> = {
  name: 'starts',
  fn: (_p, completion, example) => (completion.split(' ')[0] === String(example.want) ? 1 : 0),
};

function tiny(seed: number): GPT {
  manualSeed(seed);
  return new GPT({ family: 'gpt2', vocabSize: 8, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 16 });
}

async function run(trainer: GRPOTrainer<{ want: number }>, steps: number): Promise<number[]> {
  const rewards: number[] = [];
  for (let i = 0; i < steps; i++) rewards.push((await trainer.step()).reward);
  return rewards;
}

describe('GRPOTrainer', () => {
  it('raises the reward of a toy task; logs KL at β = 0', async () => {
    const policy = tiny(1);
    const reference = tiny(1);
    const trainer = new GRPOTrainer({
      policy,
      reference,
      prompts,
      rewards: [startsWith3],
      decode,
      stopTokens: [STOP],
      config: {
        promptsPerStep: 4,
        groupSize: 8,
        maxCompletionTokens: 3,
        schedule: { kind: 'constant', lr: 3e-2 },
        seed: 1,
      },
    });
    const first = await trainer.step();
    expect(first.kl).toBeCloseTo(0, 5); // policy = reference at the start
    expect(first.rolloutTokensPerSecond).toBeGreaterThan(0);
    const rewards = await run(trainer, 14);
    const last = await trainer.step();
    expect(last.kl).toBeGreaterThan(0); // logged although β = 0
    const early = (first.reward + rewards[0]) / 2;
    const late = (rewards.at(-1)! + last.reward) / 2;
    expect(late).toBeGreaterThan(early + 0.3);
  });

  it('RLOO with the dapo loss and a LoRA policy against its base', async () => {
    const policy = tiny(2);
    applyLoRA(policy, { rank: 4, alpha: 8, targets: 'all-linear', seed: 2 });
    const trainer = new GRPOTrainer({
      policy,
      reference: 'base',
      prompts,
      rewards: [startsWith3, { name: 'short', fn: (_p, c) => -0.01 * c.length, weight: 0.5 }],
      decode,
      stopTokens: [STOP],
      config: {
        promptsPerStep: 4,
        groupSize: 4,
        maxCompletionTokens: 3,
        advantage: 'rloo',
        lossType: 'dapo',
        beta: 0.04,
        iterations: 2,
        microBatchSize: 8,
        schedule: { kind: 'constant', lr: 5e-2 },
      },
    });
    const rewards = await run(trainer, 4);
    for (const r of rewards) expect(Number.isFinite(r)).toBe(true);
    const step = await trainer.step();
    expect(Object.keys(step.rewards)).toEqual(['starts', 'short']);
    expect(step.kl).toBeGreaterThan(0);
  });

  it('dynamic sampling drops groups whose rewards all agree and samples fresh prompts for them', async () => {
    // prompts 1 and 2 can be answered (want 3), prompts 4 and 5 never (want 99: every completion
    // scores 0, a zero-std group)
    const mixed: RLPrompt<{ want: number }>[] = prompts.map((p, i) => ({
      ...p,
      example: { want: i < 2 ? 3 : 99 },
    }));
    const make = (config: Record<string, unknown>, list = mixed) =>
      new GRPOTrainer({
        policy: tiny(5),
        prompts: list,
        rewards: [startsWith3],
        decode,
        stopTokens: [STOP],
        config: {
          promptsPerStep: 2,
          groupSize: 16,
          maxCompletionTokens: 2,
          schedule: { kind: 'constant', lr: 1e-2 },
          seed: 3,
          ...config,
        },
      });
    // round 0 is the rollout a run without dynamic sampling makes (same prompts, same seed)
    const plain = await make({}).step();
    const oneRound = await make({ dynamicSampling: true, maxSamplingRounds: 1 }).step();
    expect(oneRound.reward).toBe(plain.reward);
    expect(oneRound.zeroStdFraction).toBe(plain.zeroStdFraction);
    expect(plain.groups).toBe(2);
    expect(plain.samplingRounds).toBe(1);
    expect(oneRound.groups).toBe(Math.round(2 * (1 - plain.zeroStdFraction)));

    // with rounds to spare it collects two informative groups (4 rounds draw every prompt twice)
    const trainer = make({ dynamicSampling: true, maxSamplingRounds: 4 });
    let sawResample = false;
    for (let i = 0; i < 4; i++) {
      const s = await trainer.step();
      expect(s.groups).toBe(2);
      expect(s.zeroStdFraction).toBeGreaterThan(0); // the impossible prompts were sampled and dropped
      if (s.samplingRounds > 1) sawResample = true;
    }
    expect(sawResample).toBe(true);

    // nothing informative at all: every round is sampled, no update is made
    const hopeless = make({ dynamicSampling: true, maxSamplingRounds: 3 }, mixed.slice(2));
    const before = await trainableParameters(hopeless.policy)[0][1].toArray();
    const s = await hopeless.step();
    expect(s).toMatchObject({ groups: 0, samplingRounds: 3, zeroStdFraction: 1, gradNorm: 0 });
    expect(await trainableParameters(hopeless.policy)[0][1].toArray()).toEqual(before);
    expect(() => make({ dynamicSampling: 'yes' })).toThrow(/dynamicSampling must be true or false/);
    expect(() => make({ maxSamplingRounds: 0 })).toThrow(/maxSamplingRounds must be an integer ≥ 1/);
  });

  it('a reward that returns NaN or throws is an error naming the completion and the prompt', async () => {
    const make = (fn: RewardFunction<{ want: number }>['fn']) =>
      new GRPOTrainer({
        policy: tiny(3),
        prompts,
        rewards: [{ name: 'judge', fn }],
        decode,
        stopTokens: [STOP],
        config: { promptsPerStep: 1, groupSize: 2, maxCompletionTokens: 2 },
      });
    await expect(make(() => Number.NaN).step()).rejects.toThrow(
      /reward 'judge' returned NaN on completion 0 of prompt "p\d"/,
    );
    await expect(
      make(() => {
        throw new Error('judge offline');
      }).step(),
    ).rejects.toThrow(/reward 'judge' threw on completion 0 .*judge offline/);
  });

  it('a prompt longer than the budget is an error naming it', () => {
    expect(
      () =>
        new GRPOTrainer({
          policy: tiny(4),
          prompts: [...prompts, { ids: [1, 2, 3, 4, 5, 6], text: 'too long', example: { want: 3 } }],
          rewards: [startsWith3],
          decode,
          stopTokens: [STOP],
          config: { maxCompletionTokens: 4 },
        }),
    ).toThrow(/prompt 4 \("too long"\) has 6 tokens, more than the budget of 4/);
    expect(
      () =>
        new GRPOTrainer({
          policy: tiny(4),
          reference: 'base',
          prompts,
          rewards: [startsWith3],
          decode,
          stopTokens: [STOP],
        }),
    ).toThrow(/has no adapters/);
  });
});
