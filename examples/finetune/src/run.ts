// The pipeline: base → conversations → { base, full fine-tuning, LoRA } → summary. Each stage
// is reused when it finished before (see stage.ts); main.ts is the command line around this.
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { manualSeed, resolveBackend } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import { Tokenizer } from '@kiln/tokenizer';
import {
  type ChatExample,
  nonPaddingTokens,
  type ProgressOptions,
  readMetrics,
  SFTDataset,
  TRAINER_OUTPUT_FILES,
  type TrainConfigInput,
  Trainer,
  tokenizeChats,
} from '@kiln/trainer/node';
import { applyLoRA, type GPT } from '@kiln/transformer';
import { loadModel, MODEL_FILES, saveAdapter, saveModel } from '@kiln/transformer/node';
import { type Assessment, assess } from './assess.js';
import { type BasePaths, CHAT_TOKENS, checkBase } from './base.js';
import type { FinetuneConfig } from './config.js';
import { readConversations, writeConversations } from './dataset-files.js';
import { initReservedOutputRows } from './reserved-tokens.js';
import { clearStage, finishStage, medianTokensPerSecond, openStage, optimizerBytes } from './stage.js';
import { buildTasks, commonestAnswerAccuracy, type TaskName } from './tasks.js';

/** Options of {@link runFinetune}. */
export interface RunOptions {
  config: FinetuneConfig;
  base: BasePaths;
  /** Output directory (runs/finetune). */
  outDir: string;
  /** The book's text, which the tasks are made from. */
  text: string;
  /** Redo finished stages. */
  fresh?: boolean;
  /** Where lines of the report go. */
  log?: (line?: string) => void;
  /** Training progress display (default: the Trainer's), or false. */
  progress?: false | Omit<ProgressOptions, 'totalSteps'>;
  /** Stops training after the current step (with a checkpoint). */
  signal?: AbortSignal;
}

/** A trained run's numbers. */
export interface RunResult extends Assessment {
  trainableParams: number;
  totalParams: number;
  optimizerBytes: number;
  tokensPerSecond: number;
  steps: number;
  trainSeconds: number;
}

/** What `summary.json` holds. */
export interface Summary {
  backend: string;
  base: { dir: string; startDir: string; parameters: number } & Omit<Assessment, 'outputs'>;
  /** Always answering each task's commonest training answer: the accuracy the answers' frequencies alone give. */
  commonest: ReturnType<typeof commonestAnswerAccuracy>;
  full: Omit<RunResult, 'outputs'> & { modelDir: string };
  lora: Omit<RunResult, 'outputs'> & {
    adapterDir: string;
    rank: number;
    alpha: number;
    targets: string[] | 'all-linear';
  };
  data: {
    tasks: TaskName[];
    trainConversations: number;
    heldOutConversations: number;
    phrases: number;
    trainTokens: number;
    trainedTokens: number;
    packedRows: number;
    paddingFraction: number;
  };
  /** A few held-out conversations with each model's answer. */
  samples: { task: TaskName; prompt: string; reference: string; base: string; full: string; lora: string }[];
  /** Whether each stage was reused from an earlier run. */
  reused: { base: boolean; full: boolean; lora: boolean };
}

/** The stopped-early marker: training was interrupted through the signal. */
export class StoppedError extends Error {
  override name = 'StoppedError';
}

/** A result without its per-prompt answers (they stay in the stage's result.json). */
function withoutOutputs<R extends Assessment>(result: R): Omit<R, 'outputs'> {
  const { outputs: _, ...rest } = result;
  return rest;
}

function userContent(example: ChatExample): string {
  if (!('messages' in example)) return example.prompt;
  return example.messages.find((m) => m.role === 'user')?.content ?? '';
}

/** Runs every stage not finished yet and writes `summary.json`; returns the summary. */
export async function runFinetune(options: RunOptions): Promise<Summary> {
  const { config, base, outDir, text, fresh = false, log = () => {} } = options;
  const problem = await checkBase(base);
  if (problem) throw new Error(problem);
  await mkdir(outDir, { recursive: true });
  const dirs = {
    data: join(outDir, 'data'),
    base: join(outDir, 'base'),
    full: join(outDir, 'full'),
    lora: join(outDir, 'lora'),
  };
  if (fresh) for (const stage of ['base', 'full', 'lora'] as const) await clearStage(dirs[stage]);

  // 1. The base and its tokenizer.
  const tokenizer = await Tokenizer.load(base.tokenizerPath);
  const baseModel = await loadModel(base.modelDir);
  const { contextLength } = baseModel.config;
  log(
    `base: ${base.modelDir} (${baseModel.config.family}, ${baseModel.config.nLayers} layers, d ${baseModel.config.dModel}, context ${contextLength}, ${(baseModel.numParameters() / 1e6).toFixed(3)}M parameters), ${tokenizer.vocabSize}-token tokenizer`,
  );

  // 2. The conversations: generated from the book, written as JSONL, read back.
  const fits = (e: { prompt: string; answer: string }) =>
    tokenizer.renderChat([
      { role: 'user', content: e.prompt },
      { role: 'assistant', content: e.answer },
    ]).ids.length <= contextLength;
  const split = buildTasks(text, { ...config.data, fits });
  await mkdir(dirs.data, { recursive: true });
  const trainPath = join(dirs.data, 'train.jsonl');
  const heldOutPath = join(dirs.data, 'held-out.jsonl');
  await writeConversations(trainPath, split.train);
  await writeConversations(heldOutPath, split.heldOut);
  const trainExamples = await readConversations(trainPath);
  const heldOutExamples = await readConversations(heldOutPath);
  const heldOutTasks = split.heldOut.map((e) => e.task);
  const layout = { template: 'chatml' as const, maxLength: contextLength };
  const trainTokens = tokenizeChats(trainExamples, tokenizer, layout);
  const heldOutTokens = tokenizeChats(heldOutExamples, tokenizer, layout);
  for (const [name, t] of [
    ['training', trainTokens],
    ['held-out', heldOutTokens],
  ] as const) {
    // Conversations are generated to fit, so any truncation is a bug worth hearing about.
    if (t.truncated > 0 || t.dropped > 0)
      log(`warning: ${t.truncated} ${name} conversations truncated, ${t.dropped} dropped`);
  }
  const padId = tokenizer.tokenToId('<|endoftext|>') ?? 0;
  const heldOut = new SFTDataset(heldOutTokens, { batchSize: 64, contextLength, shuffle: false, padId });
  const trainSet = (train: TrainConfigInput) =>
    new SFTDataset(trainTokens, {
      batchSize: train.batchSize ?? 8,
      contextLength,
      seed: train.seed ?? 0,
      padId,
    });
  const stats = trainSet(config.full.train).stats;
  log(
    `data: ${split.phrases} phrases of the book → ${trainExamples.length} training conversations (${trainTokens.tokens} tokens, ${trainTokens.trainedTokens} trained), ${heldOutExamples.length} held out (by phrase), tasks ${config.data.tasks.join(', ')}`,
  );
  log(
    `      packed best-fit into ${stats.rows} rows of ${contextLength} tokens (${(stats.paddingFraction * 100).toFixed(1)}% padding); ${trainPath}, ${heldOutPath}`,
  );
  const held = { examples: heldOutExamples, tasks: heldOutTasks, heldOut };
  const evalOptions = { maxTokens: config.eval.maxTokens, batchSize: config.eval.batchSize };
  const report = (name: string, a: Assessment) =>
    log(
      `${name}: held-out accuracy ${(a.accuracy * 100).toFixed(1)}% (${Object.entries(a.byTask)
        .map(([t, v]) => `${t} ${((v ?? 0) * 100).toFixed(0)}%`)
        .join(', ')}), assistant-token loss ${a.loss.toFixed(3)}`,
    );

  // 3. The base both runs start from: the pretrained model with the never-trained output rows
  // of the chat tokens drawn like trained ones (see reserved-tokens.ts), saved so the LoRA
  // adapter's base is on disk; then its held-out scores. The pretrained model's identity (path,
  // size, time) is part of every stage's config, so pretraining again redoes the stages.
  const weights = await stat(join(base.modelDir, MODEL_FILES.weights));
  const baseId = { modelDir: base.modelDir, bytes: weights.size, modified: weights.mtimeMs };
  const baseConfig = { data: config.data, eval: config.eval, base: baseId };
  const startDir = join(dirs.base, 'model');
  let baseResult = await openStage<Assessment>(dirs.base, baseConfig);
  const reused = { base: baseResult !== undefined, full: false, lora: false };
  if (!baseResult) {
    await initReservedOutputRows(
      baseModel,
      CHAT_TOKENS.map((t) => tokenizer.tokenToId(t)!),
      config.data.seed,
    );
    await saveModel(baseModel, startDir);
    await copyFile(base.tokenizerPath, join(startDir, 'tokenizer.json'));
    log(
      `\nwrote ${startDir}: the base, its output rows of ${CHAT_TOKENS.join(', ')} drawn like trained rows`,
    );
    log('evaluating the base model…');
    baseResult = await assess(baseModel, tokenizer, held, evalOptions);
    await finishStage(dirs.base, baseResult);
  } else log(`\nreusing the base and its evaluation in ${dirs.base}`);
  report('base', baseResult);
  const baseParameters = baseModel.numParameters();
  baseModel.dispose();

  // 4. Full fine-tuning and 5. LoRA, through the same loop.
  const train = async (
    name: 'full' | 'lora',
    trainConfig: TrainConfigInput,
    prepare: (model: GPT) => { trainableParams: number; describe: string },
    save: (model: GPT) => Promise<void>,
  ): Promise<{ result: RunResult; reused: boolean }> => {
    const stageConfig = { data: config.data, eval: config.eval, base: baseId, run: config[name] };
    const done = await openStage<RunResult>(dirs[name], stageConfig);
    if (done) {
      log(`\nreusing ${dirs[name]} (finished before; --fresh redoes it)`);
      report(name, done);
      return { result: done, reused: true };
    }
    manualSeed(trainConfig.seed ?? 0);
    const model = await loadModel(startDir);
    try {
      const { trainableParams, describe } = prepare(model);
      log(`\n${name}: ${describe}`);
      const trainer = new Trainer({
        model,
        data: trainSet(trainConfig),
        validation: () => heldOut.batches(),
        countTokens: nonPaddingTokens,
        config: trainConfig,
        outDir: dirs[name],
        runConfig: JSON.parse(JSON.stringify(stageConfig)),
        signal: options.signal,
        progress: options.progress,
        plotTitle: `Fine-tuning (${name === 'full' ? 'full' : 'LoRA'}): assistant-token loss`,
      });
      const from = await trainer.resume();
      if (from) log(`resumed from ${from.path} (step ${from.step})`);
      const startSeconds = trainer.elapsedSeconds;
      const run = await trainer.train();
      if (run.stopped)
        throw new StoppedError(`stopped during ${name} fine-tuning; run the same command again to continue`);
      const assessment = await assess(model, tokenizer, held, evalOptions);
      const result: RunResult = {
        ...assessment,
        trainableParams,
        totalParams: model.numParameters(),
        optimizerBytes: optimizerBytes(trainer.optimizer),
        tokensPerSecond: Math.round(
          medianTokensPerSecond(await readMetrics(join(dirs[name], TRAINER_OUTPUT_FILES.metrics))),
        ),
        steps: run.step,
        trainSeconds: run.elapsedSeconds - startSeconds,
      };
      await save(model);
      await finishStage(dirs[name], result);
      report(name, result);
      return { result, reused: false };
    } finally {
      model.dispose();
    }
  };

  const modelDir = join(dirs.full, 'model');
  const full = await train(
    'full',
    config.full.train,
    (model) => ({
      trainableParams: model.numParameters(),
      describe: `every parameter trains (${model.numParameters()})`,
    }),
    async (model) => {
      await saveModel(model, modelDir);
      // A model directory with its tokenizer is all examples/chat needs.
      await copyFile(base.tokenizerPath, join(modelDir, 'tokenizer.json'));
    },
  );
  const adapterDir = join(dirs.lora, 'adapter');
  const { rank, alpha, dropout, targets } = config.lora;
  const lora = await train(
    'lora',
    config.lora.train,
    (model) => {
      const info = applyLoRA(model, { rank, alpha, dropout, targets, seed: config.lora.train.seed ?? 0 });
      return {
        trainableParams: info.trainableParams,
        describe: `LoRA rank ${rank}, α ${alpha} on ${info.wrapped.length} linear layers (${info.trainableParams} trainable of ${info.totalParams}, the base frozen)`,
      };
    },
    (model) => saveAdapter(model, adapterDir, { baseModelNameOrPath: startDir }),
  );
  reused.full = full.reused;
  reused.lora = lora.reused;

  // 6. Side by side.
  const samples = heldOutExamples.slice(0, config.eval.samples).map((example, i) => ({
    task: heldOutTasks[i],
    prompt: userContent(example),
    reference: split.heldOut[i].answer,
    base: baseResult.outputs[i],
    full: full.result.outputs[i],
    lora: lora.result.outputs[i],
  }));
  const summary: Summary = {
    backend: resolveBackend().name,
    base: { dir: base.dir, startDir, parameters: baseParameters, ...withoutOutputs(baseResult) },
    commonest: commonestAnswerAccuracy(split.train, split.heldOut),
    full: { ...withoutOutputs(full.result), modelDir },
    lora: { ...withoutOutputs(lora.result), adapterDir, rank, alpha, targets },
    data: {
      tasks: config.data.tasks,
      trainConversations: trainExamples.length,
      heldOutConversations: heldOutExamples.length,
      phrases: split.phrases,
      trainTokens: trainTokens.tokens,
      trainedTokens: trainTokens.trainedTokens,
      packedRows: stats.rows,
      paddingFraction: stats.paddingFraction,
    },
    samples,
    reused,
  };
  await writeFileAtomic(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
