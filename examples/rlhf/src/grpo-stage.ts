// Step 1: GRPO with a programmatic reward. The SFT model samples G answers to each of B
// prompts, a program checks each answer (1 right, 0 wrong), and the policy is pushed towards
// the answers that beat their group's mean. Held-out accuracy before and after, reward and KL
// curves, sample answers.
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GRPOTrainer, type RLPrompt } from '@kiln/rlhf';
import { resumeGRPOCheckpoint, saveGRPOCheckpoint } from '@kiln/rlhf/node';
import { manualSeed } from '@kiln/tensor';
import type { Tokenizer } from '@kiln/tokenizer';
import type { JsonValue, MetricsRecord } from '@kiln/trainer';
import { CheckpointDir } from '@kiln/trainer/node';
import { loadModel, saveModel } from '@kiln/transformer/node';
import { type Assessment, assess, describeAssessment } from './assess.js';
import type { RLHFExampleConfig } from './config.js';
import { writeCurves } from './curves.js';
import { finishStage, openStage } from './stage.js';
import { closeness, correctness, fitting, type TaskRecord } from './task.js';

/** Steps between the GRPO loop's checkpoints. */
const CHECKPOINT_EVERY = 10;

const REWARDS = { correct: correctness, close: closeness } as Record<string, typeof correctness>;

/** What the GRPO stage records. */
export interface GRPOStageResult extends Assessment {
  steps: number;
  seconds: number;
  /** Mean reward of the first and last five steps' rollouts. */
  rewardStart: number;
  rewardEnd: number;
  /** Mean KL to the SFT model over the last five steps. */
  klEnd: number;
  /** Rollout throughput (generated tokens per second of generation), median over steps. */
  rolloutTokensPerSecond: number;
  /** Fractions of the step time spent generating, scoring and optimising. */
  timeSplit: { generation: number; reward: number; optimisation: number };
  modelDir: string;
}

/** Runs (or reuses) the GRPO stage. */
export async function runGRPOStage(options: {
  config: RLHFExampleConfig;
  sftDir: string;
  sftId: unknown;
  dir: string;
  tokenizer: Tokenizer;
  train: RLPrompt<TaskRecord>[];
  heldOut: RLPrompt<TaskRecord>[];
  log: (line?: string) => void;
}): Promise<{ result: GRPOStageResult; reused: boolean }> {
  const { config, sftDir, dir, tokenizer, train, heldOut, log } = options;
  const stageConfig = { sft: options.sftId, data: config.data, eval: config.eval, grpo: config.grpo };
  // resumable: an interrupted run of the same config continues from its last checkpoint
  const done = await openStage<GRPOStageResult>(dir, stageConfig, true);
  if (done) {
    log(`grpo: reusing ${dir} (finished before; --fresh redoes it): ${describeAssessment(done)}`);
    return { result: done, reused: true };
  }
  const { steps, rewards, ...grpo } = config.grpo;
  manualSeed(grpo.seed ?? 0);
  const policy = await loadModel(sftDir);
  const reference = await loadModel(sftDir);
  const imEnd = tokenizer.tokenToId('<|im_end|>')!;
  const prompts = fitting(train, policy.config.contextLength, grpo.maxCompletionTokens ?? 16, log);
  const trainer = new GRPOTrainer<TaskRecord>({
    policy,
    reference,
    prompts,
    rewards: Object.entries(rewards).map(([name, weight]) => {
      const fn = REWARDS[name];
      if (!fn)
        throw new Error(
          `grpo.rewards: unknown reward '${name}'; the rewards are ${Object.keys(REWARDS).join(', ')}`,
        );
      return { ...fn, weight };
    }),
    decode: (ids) => tokenizer.decode(ids),
    stopTokens: [imEnd],
    padId: tokenizer.tokenToId('<|endoftext|>') ?? 0,
    config: grpo,
  });
  const c = trainer.config;
  log(
    `grpo: ${steps} steps × ${c.promptsPerStep} prompts × ${c.groupSize} completions (≤ ${c.maxCompletionTokens} tokens, temperature ${c.temperature}), rewards ${JSON.stringify(rewards)}, β ${c.beta}, loss ${c.lossType}, lr ${JSON.stringify(c.schedule)}`,
  );
  // a checkpoint every CHECKPOINT_EVERY steps carries the step records so far (for the curves)
  const checkpoints = new CheckpointDir(join(dir, 'checkpoints'), { keep: 1 });
  const resumed = await resumeGRPOCheckpoint(checkpoints, trainer);
  const saved = (resumed?.extra ?? {}) as { records?: MetricsRecord[]; seconds?: number };
  const records: MetricsRecord[] = saved.records ?? [];
  if (resumed) log(`  resuming from the checkpoint of step ${resumed.step}`);
  const start = performance.now() - (saved.seconds ?? 0) * 1000;
  for (let i = trainer.stepCount; i < steps; i++) {
    const s = await trainer.step();
    const { samples: _, rewards, ...numbers } = s;
    records.push({
      ...numbers,
      ...Object.fromEntries(Object.entries(rewards).map(([k, v]) => [`reward/${k}`, v])),
    });
    if (i % 5 === 0 || i === steps - 1) {
      log(
        `  step ${String(s.step).padStart(3)} | reward ${s.reward.toFixed(3)} | kl ${s.kl.toFixed(4)} | clip ${s.clipFraction.toFixed(3)} | len ${s.completionLength.toFixed(1)} | groups ${s.groups} (${s.samplingRounds} round${s.samplingRounds === 1 ? '' : 's'}, ${(s.zeroStdFraction * 100).toFixed(0)}% all agree) | gen ${s.generationSeconds.toFixed(2)}s opt ${s.optimisationSeconds.toFixed(2)}s | ${s.rolloutTokensPerSecond.toFixed(0)} rollout tok/s`,
      );
    }
    if ((i + 1) % CHECKPOINT_EVERY === 0 && i + 1 < steps) {
      const seconds = (performance.now() - start) / 1000;
      await saveGRPOCheckpoint(checkpoints, trainer, { records, seconds } as unknown as JsonValue);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await writeCurves(dir, 'GRPO', records, [
    { file: 'reward.svg', key: 'reward', label: 'mean reward (weighted sum of the functions)' },
    { file: 'correct.svg', key: 'reward/correct', label: 'fraction of exact answers' },
    { file: 'kl.svg', key: 'kl', label: 'KL to the SFT model (k3)' },
  ]);
  const meanOf = (key: string, part: MetricsRecord[]) =>
    part.reduce((a, r) => a + (r[key] as number), 0) / part.length;
  const total = (key: string) => records.reduce((a, r) => a + (r[key] as number), 0);
  const timeAll = total('generationSeconds') + total('rewardSeconds') + total('optimisationSeconds');
  const rates = records.map((r) => r.rolloutTokensPerSecond as number).sort((a, b) => a - b);
  const assessment = await assess(policy, tokenizer, heldOut, {
    ...config.eval,
    sampled: { temperature: c.temperature, samples: 4 },
  });
  const modelDir = join(dir, 'model');
  await saveModel(policy, modelDir);
  // a model directory with its tokenizer is all examples/chat needs
  await copyFile(join(sftDir, 'tokenizer.json'), join(modelDir, 'tokenizer.json'));
  const result: GRPOStageResult = {
    ...assessment,
    steps,
    seconds,
    rewardStart: meanOf('reward', records.slice(0, 5)),
    rewardEnd: meanOf('reward', records.slice(-5)),
    klEnd: meanOf('kl', records.slice(-5)),
    rolloutTokensPerSecond: rates[Math.floor(rates.length / 2)],
    timeSplit: {
      generation: total('generationSeconds') / timeAll,
      reward: total('rewardSeconds') / timeAll,
      optimisation: total('optimisationSeconds') / timeAll,
    },
    modelDir,
  };
  await finishStage(dir, result);
  log(
    `grpo: ${describeAssessment(result)}; reward ${result.rewardStart.toFixed(3)} → ${result.rewardEnd.toFixed(3)}`,
  );
  policy.dispose();
  reference.dispose();
  return { result, reused: false };
}
