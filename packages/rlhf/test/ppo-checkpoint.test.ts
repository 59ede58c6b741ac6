// Mid-run checkpoints of PPO: a run interrupted after 2 steps and resumed from its checkpoint
// into a freshly built trainer (policy and value model with other initial weights) takes the
// same steps 3–4 as the uninterrupted run, bit for bit on the cpu backend: scores, losses and
// the final weights of both models.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { CheckpointDir } from '@kiln/trainer/node';
import { GPT, trainableParameters } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PPOConfig,
  PPOTrainer,
  RewardModel,
  type RLPrompt,
  resumePPOCheckpoint,
  savePPOCheckpoint,
} from '../src/node.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = await mkdtemp(join(tmpdir(), 'kiln-ppo-ckpt-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const STOP = 7;
const prompts: RLPrompt<null>[] = [1, 2, 4, 5, 6].map((t) => ({ ids: [t], text: `p${t}`, example: null }));
const config: Partial<PPOConfig> = {
  promptsPerStep: 4,
  maxCompletionTokens: 2,
  temperature: 1,
  schedule: { kind: 'cosine', maxLr: 2e-2, minLr: 2e-3, warmupSteps: 1, totalSteps: 4 },
  ppoEpochs: 2,
  numMiniBatches: 2,
  seed: 5,
};

function tiny(seed: number): GPT {
  manualSeed(seed);
  return new GPT({ family: 'gpt2', vocabSize: 8, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 16 });
}
function trainer(seed: number, overrides: Partial<PPOConfig> = {}): PPOTrainer<null> {
  return new PPOTrainer({
    policy: tiny(seed),
    reference: tiny(1),
    valueModel: RewardModel.fromCausalLM(tiny(seed + 100)),
    rewardModel: RewardModel.fromCausalLM(tiny(2)),
    rewards: [{ name: 'three', fn: (_p, c) => (c.split(' ')[0] === '3' ? 1 : 0) }],
    prompts,
    decode: (ids) => ids.join(' '),
    stopTokens: [STOP],
    config: { ...config, ...overrides },
  });
}
const weights = async (t: PPOTrainer<null>) =>
  Promise.all(
    [...trainableParameters(t.policy), ...trainableParameters(t.valueModel)].map(async ([, p]) =>
      Array.from(await p.data()),
    ),
  );
const numbers = (s: Awaited<ReturnType<PPOTrainer['step']>>) => [
  s.step,
  s.score,
  s.reward,
  s.kl,
  s.policyLoss,
  s.valueLoss,
  s.clipFraction,
];

describe('PPO checkpoints', () => {
  it('a resumed run takes exactly the steps of the uninterrupted one', async () => {
    const whole = trainer(1);
    const wholeSteps = [];
    for (let i = 0; i < 4; i++) wholeSteps.push(numbers(await whole.step()));

    const first = trainer(1);
    for (let i = 0; i < 2; i++) await first.step();
    const checkpoints = new CheckpointDir(join(dir, 'run'));
    await savePPOCheckpoint(checkpoints, first, { note: 'two steps' });

    const resumed = trainer(9); // other initial weights: the checkpoint must replace them
    expect(await weights(resumed)).not.toEqual(await weights(first));
    const info = await resumePPOCheckpoint(checkpoints, resumed);
    expect(info).toEqual({ step: 2, extra: { note: 'two steps' } });
    expect(resumed.stepCount).toBe(2);
    const resumedSteps = [];
    for (let i = 0; i < 2; i++) resumedSteps.push(numbers(await resumed.step()));
    expect(resumedSteps).toEqual(wholeSteps.slice(2));
    expect(await weights(resumed)).toEqual(await weights(whole));
  });

  it('keeps the value checkpoint of the latest policy checkpoint when interrupted between the two saves', async () => {
    // the policy's save of step 2 fails once its files are written: the value model's of step
    // 2 is done by then (and has pruned its directory), the policy's latest is still step 1
    const failing = new CheckpointDir(join(dir, 'keep'), {
      keep: 1,
      onStage: (stage, step) => {
        if (stage === 'files-written' && step === 2) throw new Error('interrupted');
      },
    });
    const t = trainer(1);
    await t.step();
    await savePPOCheckpoint(failing, t);
    await t.step();
    await expect(savePPOCheckpoint(failing, t)).rejects.toThrow(/interrupted/);
    const resumed = trainer(9);
    const info = await resumePPOCheckpoint(new CheckpointDir(join(dir, 'keep'), { keep: 1 }), resumed);
    expect(info).toEqual({ step: 1, extra: null });
  });

  it('an empty directory resumes nothing; another config or a missing value part is an error', async () => {
    expect(await resumePPOCheckpoint(new CheckpointDir(join(dir, 'empty')), trainer(1))).toBeUndefined();
    const checkpoints = new CheckpointDir(join(dir, 'other'));
    const t = trainer(1);
    await t.step();
    await savePPOCheckpoint(checkpoints, t);
    const other = trainer(1, { ppoEpochs: 3 });
    const before = await weights(other);
    await expect(resumePPOCheckpoint(checkpoints, other)).rejects.toThrow(
      /was saved with ppoEpochs = 2, but this trainer has 3/,
    );
    expect(await weights(other)).toEqual(before); // nothing restored
    await rm(join(dir, 'other', 'value'), { recursive: true });
    const same = trainer(1);
    const untouched = await weights(same);
    await expect(resumePPOCheckpoint(checkpoints, same)).rejects.toThrow(
      /has no value-model checkpoint of step 1/,
    );
    expect(await weights(same)).toEqual(untouched);
  });
});
