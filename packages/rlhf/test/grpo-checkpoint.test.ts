// Mid-run checkpoints of GRPO: a run interrupted after 2 steps and resumed from its checkpoint
// into a freshly built trainer (a policy with other initial weights) takes the same steps 3–4
// as the uninterrupted run, bit for bit on the cpu backend: rewards, losses and final weights.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { CheckpointDir } from '@kiln/trainer/node';
import { GPT, trainableParameters } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GRPOConfig,
  GRPOTrainer,
  type RLPrompt,
  resumeGRPOCheckpoint,
  saveGRPOCheckpoint,
} from '../src/node.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = await mkdtemp(join(tmpdir(), 'kiln-grpo-ckpt-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const STOP = 7;
const prompts: RLPrompt<{ want: number }>[] = [1, 2, 4, 5, 6].map((t, i) => ({
  ids: [t],
  text: `p${t}`,
  example: { want: i < 3 ? 3 : 99 },
}));
const config: Partial<GRPOConfig> = {
  promptsPerStep: 2,
  groupSize: 4,
  maxCompletionTokens: 2,
  schedule: { kind: 'cosine', maxLr: 3e-2, minLr: 3e-3, warmupSteps: 1, totalSteps: 4 },
  beta: 0.04,
  dynamicSampling: true,
  seed: 5,
};

function tiny(seed: number): GPT {
  manualSeed(seed);
  return new GPT({ family: 'gpt2', vocabSize: 8, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 16 });
}
function trainer(policySeed: number, overrides: Partial<GRPOConfig> = {}): GRPOTrainer<{ want: number }> {
  return new GRPOTrainer({
    policy: tiny(policySeed),
    reference: tiny(1),
    prompts,
    rewards: [{ name: 'starts', fn: (_p, c, e) => (c.split(' ')[0] === String(e.want) ? 1 : 0) }],
    decode: (ids) => ids.join(' '),
    stopTokens: [STOP],
    config: { ...config, ...overrides },
  });
}
const weights = async (t: GRPOTrainer<unknown>) =>
  Promise.all(trainableParameters(t.policy).map(async ([, p]) => Array.from(await p.data())));
const numbers = (s: Awaited<ReturnType<GRPOTrainer['step']>>) => [
  s.step,
  s.reward,
  s.loss,
  s.kl,
  s.gradNorm,
  s.lr,
];

describe('GRPO checkpoints', () => {
  it('a resumed run takes exactly the steps of the uninterrupted one', async () => {
    const whole = trainer(1);
    const wholeSteps = [];
    for (let i = 0; i < 4; i++) wholeSteps.push(numbers(await whole.step()));

    const first = trainer(1);
    for (let i = 0; i < 2; i++) await first.step();
    const checkpoints = new CheckpointDir(join(dir, 'run'));
    await saveGRPOCheckpoint(checkpoints, first, { note: 'two steps' });

    const resumed = trainer(9); // other initial weights: the checkpoint must replace them
    expect(await weights(resumed)).not.toEqual(await weights(first));
    const info = await resumeGRPOCheckpoint(checkpoints, resumed);
    expect(info).toEqual({ step: 2, extra: { note: 'two steps' } });
    expect(resumed.stepCount).toBe(2);
    const resumedSteps = [];
    for (let i = 0; i < 2; i++) resumedSteps.push(numbers(await resumed.step()));
    expect(resumedSteps).toEqual(wholeSteps.slice(2));
    expect(await weights(resumed)).toEqual(await weights(whole));
  });

  it('an empty directory resumes nothing; another config is an error naming the setting', async () => {
    expect(await resumeGRPOCheckpoint(new CheckpointDir(join(dir, 'empty')), trainer(1))).toBeUndefined();
    const checkpoints = new CheckpointDir(join(dir, 'other'));
    const t = trainer(1);
    await t.step();
    await saveGRPOCheckpoint(checkpoints, t);
    const other = trainer(1, { groupSize: 8 });
    const before = await weights(other);
    await expect(resumeGRPOCheckpoint(checkpoints, other)).rejects.toThrow(
      /was saved with groupSize = 4, but this trainer has 8/,
    );
    expect(await weights(other)).toEqual(before); // nothing restored
  });
});
