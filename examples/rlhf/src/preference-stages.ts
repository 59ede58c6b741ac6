// Step 2: feedback as preferences. The SFT model samples several answers per prompt; a judge
// (a program standing in for human raters) ranks them, and the best and worst become a pair.
// A reward model learns the judge's preferences from the pairs (Bradley–Terry); PPO then
// improves the policy against the reward model, and DPO separately on the same pairs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import {
  dpoObjective,
  loadRewardModel,
  PPOTrainer,
  type PreferencePair,
  PreferenceSource,
  pairRewards,
  parsePreferenceJsonl,
  precomputeReferenceLogps,
  RewardModel,
  type RLPrompt,
  resumePPOCheckpoint,
  rewardModelObjective,
  rollout,
  savePPOCheckpoint,
  saveRewardModel,
  type TokenizedPair,
  tokenizePreferencePairs,
} from '@kiln/rlhf/node';
import { manualSeed, scope, tensor } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import type { Tokenizer } from '@kiln/tokenizer';
import {
  CheckpointDir,
  crc32,
  type JsonValue,
  type MetricsRecord,
  Trainer,
  uploadBatch,
} from '@kiln/trainer/node';
import type { GPT } from '@kiln/transformer';
import { loadModel, saveModel } from '@kiln/transformer/node';
import { type Assessment, assess, describeAssessment } from './assess.js';
import type { RLHFExampleConfig } from './config.js';
import { writeCurves } from './curves.js';
import { finishStage, openStage } from './stage.js';
import { fitting, judgeScore, type TaskRecord } from './task.js';

/** PPO steps between mid-run checkpoints (an interrupted PPO stage resumes from the last). */
const PPO_CHECKPOINT_EVERY = 10;

/** The reward model's held-out numbers. */
export interface RewardModelResult {
  pairs: { train: number; heldOut: number; prompts: number };
  /** Fraction of held-out pairs the reward model ranks like the judge (a tie counts ½). */
  pairAccuracy: number;
  /** The same before training (the fresh scalar head: ~50%). */
  pairAccuracyBefore: number;
  /** Fraction of held-out pairs whose two answers get exactly the same score, after training. */
  ties: number;
  /** The same before training. */
  tiesBefore: number;
  /** Pair accuracy on the training pairs, after training (a tie counts ½). */
  trainPairAccuracy: number;
  /** Mean r_chosen − r_rejected on held-out pairs. */
  margin: number;
  seconds: number;
}

/** A policy's held-out answers scored by the reward model and the judge, besides accuracy. */
export interface PolicyResult extends Assessment {
  /** Mean reward-model score of the held-out greedy answers. */
  rewardModelScore: number;
  /** Mean judge score of the held-out greedy answers. */
  judgeScore: number;
  seconds: number;
}

interface Common {
  config: RLHFExampleConfig;
  sftDir: string;
  sftId: unknown;
  tokenizer: Tokenizer;
  train: RLPrompt<TaskRecord>[];
  heldOut: RLPrompt<TaskRecord>[];
  outDir: string;
  log: (line?: string) => void;
}

/** Samples answers from the SFT model and turns each prompt's judged best and worst into a pair. */
async function buildPairs(
  o: Common,
  sft: GPT,
): Promise<{ train: PreferencePair[]; heldOut: PreferencePair[]; prompts: number }> {
  const { prefs } = o.config;
  const imEnd = o.tokenizer.tokenToId('<|im_end|>')!;
  const maxTokens = 3;
  const prompts = fitting(o.train, sft.config.contextLength, maxTokens, o.log).slice(-prefs.prompts);
  const pairs: PreferencePair[] = [];
  const batch = 64;
  for (let s = 0; s < prompts.length; s += batch) {
    const part = prompts.slice(s, s + batch);
    const rows = part.flatMap((p) => Array.from({ length: prefs.samples }, () => p.ids));
    const rolled = await rollout(sft, rows, {
      maxTokens,
      temperature: prefs.temperature,
      stopTokens: [imEnd],
      seed: prefs.seed + s,
    });
    part.forEach((p, i) => {
      const answers = rolled.completions
        .slice(i * prefs.samples, (i + 1) * prefs.samples)
        .map((ids, j) => o.tokenizer.decode(rolled.finished[i * prefs.samples + j] ? ids.slice(0, -1) : ids));
      const scored = answers
        .map((a) => ({ a, score: judgeScore(a, p.example) }))
        .sort((x, y) => y.score - x.score);
      const best = scored[0];
      const worst = scored.at(-1)!;
      if (best.score > worst.score && best.a !== worst.a)
        pairs.push({ prompt: p.text, chosen: best.a, rejected: worst.a });
    });
  }
  // a hash of the prompt decides the split, so a prompt's pair is on one side only
  const held = (p: PreferencePair) =>
    crc32(new TextEncoder().encode(p.prompt)) / 2 ** 32 < prefs.heldOutFraction;
  return { train: pairs.filter((p) => !held(p)), heldOut: pairs.filter(held), prompts: prompts.length };
}

/** Mean reward-model score and judge score of greedy answers to the held-out prompts. */
async function scoreAnswers(
  o: Common,
  rm: RewardModel,
  outputs: readonly string[],
  endOfTurn: boolean,
): Promise<{ rewardModelScore: number; judgeScore: number }> {
  const imEnd = o.tokenizer.tokenToId('<|im_end|>')!;
  const { contextLength } = rm.config;
  // the rows as the reward model was trained on them: with <|im_end|> only when rm.endOfTurn
  const rows = o.heldOut.map((p, i) =>
    [...p.ids, ...o.tokenizer.encode(outputs[i]), ...(endOfTurn ? [imEnd] : [])].slice(0, contextLength),
  );
  let total = 0;
  for (let s = 0; s < rows.length; s += 60) {
    const part = rows.slice(s, s + 60);
    const L = Math.max(...part.map((r) => r.length));
    const scores = await scope(async () => {
      const ids = tensor(
        part.map((r) => [...r, ...new Array(L - r.length).fill(0)]),
        { dtype: 'int32', backend: rm.backend },
      );
      const padding = tensor(
        part.map((r) => Array.from({ length: L }, (_, t) => t >= r.length)),
        { dtype: 'bool', backend: rm.backend },
      );
      return noGrad(() => rm.score(ids, { padding })).data();
    });
    total += Array.from(scores).reduce((a, b) => a + b, 0);
  }
  const judged = o.heldOut.reduce((a, p, i) => a + judgeScore(outputs[i], p.example), 0);
  return { rewardModelScore: total / rows.length, judgeScore: judged / rows.length };
}

/**
 * Fraction of pairs ranked chosen > rejected (a tie, r_c = r_r exactly, counts ½: an answer the
 * model cannot see is a coin toss, not a wrong ranking), the fraction tied, and the mean margin.
 */
async function pairAccuracy(
  rm: RewardModel,
  pairs: readonly TokenizedPair[],
): Promise<{ accuracy: number; ties: number; margin: number }> {
  const source = new PreferenceSource(pairs, { batchSize: pairs.length, seed: 0 });
  return scope(async () => {
    const { chosen, rejected } = noGrad(() =>
      pairRewards(rm, uploadBatch(source.next(), { backend: rm.backend })),
    );
    const d = Array.from(await chosen.sub(rejected).data());
    const ties = d.filter((x) => x === 0).length;
    return {
      accuracy: (d.filter((x) => x > 0).length + ties / 2) / d.length,
      ties: ties / d.length,
      margin: d.reduce((a, b) => a + b, 0) / d.length,
    };
  });
}

/** Runs (or reuses) the pairs, the reward model, PPO and DPO. */
export async function runPreferenceStages(o: Common): Promise<{
  rewardModel: RewardModelResult;
  ppo: PolicyResult;
  dpo: PolicyResult;
  scoreOutputs: (outputs: readonly string[]) => Promise<{ rewardModelScore: number; judgeScore: number }>;
}> {
  const { config, tokenizer, log } = o;
  const imEnd = tokenizer.tokenToId('<|im_end|>')!;
  const padId = tokenizer.tokenToId('<|endoftext|>') ?? 0;

  // 1. The pairs, written as JSONL ({"prompt", "chosen", "rejected"}) and read back.
  const prefsDir = join(o.outDir, 'prefs');
  const prefsConfig = { sft: o.sftId, data: config.data, prefs: config.prefs };
  let prefsResult = await openStage<{ train: number; heldOut: number; prompts: number }>(
    prefsDir,
    prefsConfig,
  );
  if (!prefsResult) {
    const sft = await loadModel(o.sftDir);
    const built = await buildPairs(o, sft);
    sft.dispose();
    const jsonl = (pairs: PreferencePair[]) => pairs.map((p) => `${JSON.stringify(p)}\n`).join('');
    await writeFileAtomic(join(prefsDir, 'train.jsonl'), jsonl(built.train));
    await writeFileAtomic(join(prefsDir, 'held-out.jsonl'), jsonl(built.heldOut));
    prefsResult = { train: built.train.length, heldOut: built.heldOut.length, prompts: built.prompts };
    await finishStage(prefsDir, prefsResult);
  }
  const read = async (name: string) => {
    const path = join(prefsDir, name);
    return parsePreferenceJsonl(await readFile(path, 'utf8'), path);
  };
  const idsByText = new Map(o.train.map((p) => [p.text, [...p.ids]]));
  const tokenizeOptions = {
    encodePrompt: (text: string) => idsByText.get(text) ?? [],
    encodeAnswer: (answer: string) => [...tokenizer.encode(answer), imEnd],
    maxLength: 32,
  };
  const trainText = await read('train.jsonl');
  const heldText = await read('held-out.jsonl');
  // DPO's pairs end with <|im_end|> (the policy learns where answers stop)
  const trainPairs = tokenizePreferencePairs(trainText, tokenizeOptions);
  const heldPairs = tokenizePreferencePairs(heldText, tokenizeOptions);
  // the reward model's end at the answer unless rm.endOfTurn (see config.ts)
  const rmTokenizeOptions = config.rm.endOfTurn
    ? tokenizeOptions
    : { ...tokenizeOptions, encodeAnswer: (answer: string) => tokenizer.encode(answer) };
  const rmTrainPairs = tokenizePreferencePairs(trainText, rmTokenizeOptions);
  const rmHeldPairs = tokenizePreferencePairs(heldText, rmTokenizeOptions);
  log(
    `pairs: ${prefsResult.prompts} prompts × ${config.prefs.samples} sampled answers, ranked by the judge → ${trainPairs.length} training pairs, ${heldPairs.length} held out (${join(prefsDir, 'train.jsonl')})`,
  );

  // 2. The reward model, initialised from the SFT model, trained by the Trainer.
  const rmDir = join(o.outDir, 'rm');
  const rmConfig = { pairs: prefsConfig, rm: config.rm };
  let rmResult = await openStage<RewardModelResult>(rmDir, rmConfig, true);
  const rmModelDir = join(rmDir, 'model');
  if (!rmResult) {
    manualSeed(config.rm.train.seed ?? 0);
    const rm = RewardModel.fromCausalLM(await loadModel(o.sftDir));
    const before = await pairAccuracy(rm, rmHeldPairs);
    // equal scores for two different answers: the head reads a state that does not see them
    if (before.ties > 0.05) {
      log(
        `  warning: the fresh reward model scores both answers of ${(before.ties * 100).toFixed(0)}% of the held-out pairs exactly alike: its score does not see the answer there${config.rm.endOfTurn ? ' (rm.endOfTurn reads <|im_end|>; try false)' : ''}`,
      );
    }
    const start = performance.now();
    const trainer = new Trainer<RewardModel>({
      model: rm,
      data: new PreferenceSource(rmTrainPairs, {
        batchSize: config.rm.pairsPerBatch,
        seed: config.rm.train.seed,
        padId,
      }),
      objective: rewardModelObjective(),
      validation: () => [new PreferenceSource(rmHeldPairs, { batchSize: rmHeldPairs.length, padId }).next()],
      config: config.rm.train,
      outDir: rmDir,
      progress: false,
      plotTitle: 'Reward model: Bradley–Terry loss',
    });
    await trainer.resume();
    await trainer.train();
    const after = await pairAccuracy(rm, rmHeldPairs);
    const onTrain = await pairAccuracy(rm, rmTrainPairs);
    rmResult = {
      pairs: prefsResult,
      pairAccuracy: after.accuracy,
      pairAccuracyBefore: before.accuracy,
      ties: after.ties,
      tiesBefore: before.ties,
      trainPairAccuracy: onTrain.accuracy,
      margin: after.margin,
      seconds: (performance.now() - start) / 1000,
    };
    await saveRewardModel(rm, rmModelDir, { padTokenId: padId });
    rm.dispose();
    await finishStage(rmDir, rmResult);
  }
  log(
    `reward model: held-out pair accuracy ${(rmResult.pairAccuracyBefore * 100).toFixed(1)}% → ${(rmResult.pairAccuracy * 100).toFixed(1)}% (ties ${(rmResult.tiesBefore * 100).toFixed(1)}% → ${(rmResult.ties * 100).toFixed(1)}%, a tie counting ½; margin ${rmResult.margin.toFixed(2)}; training pairs ${(rmResult.trainPairAccuracy * 100).toFixed(1)}%)`,
  );
  // the trained reward model, for PPO and for scoring every policy's answers
  const loadRM = () => loadRewardModel(rmModelDir);
  const rm = await loadRM();
  const scoreOutputs = (outputs: readonly string[]) => scoreAnswers(o, rm, outputs, config.rm.endOfTurn);

  // 3. PPO against the reward model; the value model starts as the reward model (InstructGPT).
  const ppoDir = join(o.outDir, 'ppo');
  let ppo = await openStage<PolicyResult>(ppoDir, { rm: rmConfig, ppo: config.ppo, eval: config.eval }, true);
  if (!ppo) {
    const { steps, ...ppoConfig } = config.ppo;
    manualSeed(ppoConfig.seed ?? 0);
    const policy = await loadModel(o.sftDir);
    const reference = await loadModel(o.sftDir);
    const valueModel = await loadRM();
    const trainer = new PPOTrainer<TaskRecord>({
      policy,
      reference,
      valueModel,
      rewardModel: rm,
      prompts: fitting(o.train, policy.config.contextLength, ppoConfig.maxCompletionTokens ?? 16, () => {}),
      decode: (ids) => tokenizer.decode(ids),
      stopTokens: [imEnd],
      // the reward model reads answers as it was trained: with <|im_end|> only when rm.endOfTurn
      scoreStopToken: config.rm.endOfTurn,
      padId,
      config: ppoConfig,
    });
    log(
      `ppo: ${steps} steps × ${trainer.config.promptsPerStep} rollouts, ${trainer.config.ppoEpochs} epochs × ${trainer.config.numMiniBatches} minibatches, KL coefficient ${trainer.config.klCoef}, reward = the reward model's score`,
    );
    // a checkpoint every PPO_CHECKPOINT_EVERY steps carries the step records so far (for the curves)
    const checkpoints = new CheckpointDir(join(ppoDir, 'checkpoints'), { keep: 1 });
    const resumed = await resumePPOCheckpoint(checkpoints, trainer);
    const saved = (resumed?.extra ?? {}) as { records?: MetricsRecord[]; seconds?: number };
    const records: MetricsRecord[] = saved.records ?? [];
    if (resumed) log(`  resuming from the checkpoint of step ${resumed.step}`);
    const start = performance.now() - (saved.seconds ?? 0) * 1000;
    for (let i = trainer.stepCount; i < steps; i++) {
      const s = await trainer.step();
      const { rewards, ...numbers } = s;
      records.push({
        ...numbers,
        ...Object.fromEntries(Object.entries(rewards).map(([k, v]) => [`reward/${k}`, v])),
      });
      if (i % 5 === 0 || i === steps - 1) {
        log(
          `  step ${String(s.step).padStart(3)} | score ${s.score.toFixed(3)} | kl ${s.kl.toFixed(4)} | entropy ${s.entropy.toFixed(3)} | clip ${s.clipFraction.toFixed(3)} | value loss ${s.valueLoss.toFixed(4)} | len ${s.completionLength.toFixed(1)}`,
        );
      }
      if ((i + 1) % PPO_CHECKPOINT_EVERY === 0 && i + 1 < steps) {
        const elapsed = (performance.now() - start) / 1000;
        await savePPOCheckpoint(checkpoints, trainer, { records, seconds: elapsed } as unknown as JsonValue);
      }
    }
    const seconds = (performance.now() - start) / 1000;
    await writeCurves(ppoDir, 'PPO', records, [
      { file: 'score.svg', key: 'score', label: 'reward-model score' },
      { file: 'kl.svg', key: 'kl', label: 'KL to the SFT model (per answer)' },
    ]);
    const assessment = await assess(policy, tokenizer, o.heldOut, config.eval);
    ppo = { ...assessment, ...(await scoreOutputs(assessment.outputs)), seconds };
    await saveModel(policy, join(ppoDir, 'model'));
    for (const m of [policy, reference, valueModel]) m.dispose();
    await finishStage(ppoDir, ppo);
  }
  log(`ppo: ${describeAssessment(ppo)}, reward-model score ${ppo.rewardModelScore.toFixed(3)}`);

  // 4. DPO on the same pairs, against reference log-probabilities computed once.
  const dpoDir = join(o.outDir, 'dpo');
  // the reward model is in the config: it scores DPO's answers (rewardModelScore)
  let dpo = await openStage<PolicyResult>(
    dpoDir,
    { pairs: prefsConfig, rm: rmConfig, dpo: config.dpo, eval: config.eval },
    true,
  );
  if (!dpo) {
    const { train, pairsPerBatch, ...dpoConfig } = config.dpo;
    manualSeed(train.seed ?? 0);
    const policy = await loadModel(o.sftDir);
    const reference = await loadModel(o.sftDir);
    const ref = await precomputeReferenceLogps(reference, policy, trainPairs, { padId });
    const heldRef = await precomputeReferenceLogps(reference, policy, heldPairs, { padId });
    reference.dispose(); // precomputed: the reference is not needed any more
    const start = performance.now();
    const trainer = new Trainer<GPT>({
      model: policy,
      data: new PreferenceSource(trainPairs, {
        batchSize: pairsPerBatch,
        seed: train.seed,
        padId,
        extras: { ...ref },
      }),
      objective: dpoObjective(dpoConfig),
      validation: () => [
        new PreferenceSource(heldPairs, {
          batchSize: heldPairs.length,
          padId,
          extras: { ...heldRef },
        }).next(),
      ],
      config: train,
      outDir: dpoDir,
      progress: false,
      plotTitle: `DPO (${dpoConfig.lossType ?? 'sigmoid'}, β ${dpoConfig.beta}): loss`,
    });
    await trainer.resume();
    await trainer.train();
    const assessment = await assess(policy, tokenizer, o.heldOut, config.eval);
    dpo = {
      ...assessment,
      ...(await scoreOutputs(assessment.outputs)),
      seconds: (performance.now() - start) / 1000,
    };
    await saveModel(policy, join(dpoDir, 'model'));
    policy.dispose();
    await finishStage(dpoDir, dpo);
  }
  log(`dpo: ${describeAssessment(dpo)}, reward-model score ${dpo.rewardModelScore.toFixed(3)}`);
  return { rewardModel: rmResult, ppo, dpo, scoreOutputs };
}
