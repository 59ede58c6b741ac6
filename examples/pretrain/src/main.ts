// Pretraining, end to end: train a BPE tokenizer on Moby Dick, tokenize the book once, hold out
// the last 10% for validation, train a small GPT with @kiln/trainer, then sample from it.
//
//   pnpm demo                                              (from the repository root)
//   pnpm --filter @kiln/example-pretrain start -- --steps 50 --backend cpu
//   pnpm --filter @kiln/example-pretrain start -- --resume
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import {
  bytesPerToken,
  formatDuration,
  formatRate,
  readMetrics,
  resolveTrainConfig,
  TokenDataset,
  TRAINER_OUTPUT_FILES,
  Trainer,
  unigramEntropy,
} from '@kiln/trainer/node';
import { GPT, type GPTConfig, resolveConfig } from '@kiln/transformer';
import { loadModel, saveModel } from '@kiln/transformer/node';
import { parseFlags, USAGE } from './args.js';
import { loadConfig, withSteps } from './config.js';
import { loadMobyDick } from './corpus.js';
import { tokensPerSecond } from './metrics-summary.js';
import { prepareData, TOKENIZER_FILE } from './prepare-data.js';
import { writeSamples } from './samples.js';

const log = (line = '') => console.log(line);

/** A model whose initial weights come from a Hugging Face directory; its shape must be the configured one. */
async function loadInitialWeights(dir: string, config: GPTConfig): Promise<GPT> {
  const model = await loadModel(dir);
  const want = resolveConfig(config);
  const keys = [
    'family',
    'vocabSize',
    'contextLength',
    'nLayers',
    'nHeads',
    'nKvHeads',
    'dModel',
    'dFF',
    'tieEmbeddings',
    'bias',
  ] as const;
  const different = keys.filter((k) => model.config[k] !== want[k]);
  if (different.length > 0) {
    model.dispose();
    throw new Error(
      `--init-from ${dir}: the model directory's ${different.map((k) => `${k} ${model.config[k]}`).join(', ')} differ from the config's ${different.map((k) => `${k} ${want[k]}`).join(', ')}`,
    );
  }
  log(`initial weights from ${dir}`);
  return model;
}

async function main(): Promise<void> {
  const args = parseFlags(process.argv.slice(2));
  if (args === 'help') {
    log(USAGE);
    return;
  }
  // pnpm runs scripts inside the package; paths on the command line are meant from where pnpm was started.
  const base = process.env.INIT_CWD ?? process.cwd();
  const outDir = resolve(base, args.out);
  let config = await loadConfig(args.config && resolve(base, args.config));
  if (args.steps !== undefined) config = withSteps(config, args.steps);
  if (args.precision !== undefined)
    config = { ...config, train: { ...config.train, precision: args.precision } };
  const train = resolveTrainConfig(config.train);

  const backend = await init({ backend: args.backend });
  log(`backend: ${backend.name} (${backend.device})`);
  await mkdir(outDir, { recursive: true });

  // 1. Tokenizer and token file (cached in the output directory).
  const corpus = await loadMobyDick();
  const { tokenizer, tokens: file } = await prepareData(outDir, corpus, config.data, log);
  const { contextLength } = config.model;
  const data = new TokenDataset(file.tokens, { contextLength, validationFraction: train.validationFraction });
  const bpt = bytesPerToken(file.header);
  const baseline = unigramEntropy(file.tokens.subarray(0, data.trainTokens));
  log(
    `data: ${file.tokens.length} tokens (${bpt?.toFixed(2)} bytes/token): ${data.trainTokens} train, ${data.validationTokens} validation`,
  );
  log(`unigram baseline (entropy of the training tokens): ${baseline.toFixed(4)} nats/token`);

  // 2. The model, seeded so a run is reproducible.
  manualSeed(train.seed);
  const modelConfig = { ...config.model, vocabSize: tokenizer.vocabSize };
  const model = args.initFrom
    ? await loadInitialWeights(resolve(base, args.initFrom), modelConfig)
    : new GPT(modelConfig);
  log(
    `model: ${modelConfig.family}, ${modelConfig.nLayers} layers, d ${modelConfig.dModel}, ${(model.numParameters() / 1e6).toFixed(3)}M parameters`,
  );
  log(
    `training: ${train.steps} steps × ${train.batchSize * train.gradAccum} windows × ${contextLength} tokens, ${train.optimizer}, lr ${JSON.stringify(train.schedule)}, precision ${train.precision}`,
  );

  // Ctrl-C stops after the current step with a checkpoint; a second Ctrl-C exits at once.
  const stop = new AbortController();
  process.once('SIGINT', () => {
    log('\nstopping after this step (Ctrl-C again to quit now)…');
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });

  const trainer = new Trainer({
    model,
    data,
    config: train,
    outDir,
    bytesPerToken: bpt,
    runConfig: { model: modelConfig, data: config.data, sample: config.sample },
    signal: stop.signal,
    plotTitle: `Moby Dick, ${(model.numParameters() / 1e6).toFixed(2)}M-parameter GPT`,
  });
  if (args.resume) {
    const from = await trainer.resume();
    log(
      from ? `resumed from ${from.path} (step ${from.step})` : 'no checkpoint to resume from: starting fresh',
    );
  } else {
    await trainer.lock(); // before touching the directory: another run may be using it
    const old = await trainer.checkpoints!.list();
    if (old.length > 0) {
      await rm(trainer.checkpoints!.dir, { recursive: true, force: true });
      log(`starting fresh: removed ${old.length} old checkpoint(s) (use --resume to continue a run)`);
    }
  }

  // 3. Train.
  const startStep = trainer.step;
  const startSeconds = trainer.elapsedSeconds;
  const result = await trainer.train();
  const seconds = result.elapsedSeconds - startSeconds;
  const steps = result.step - startStep;
  log();
  if (result.stopped) log('continue this run with --resume');
  if (steps > 0) {
    log(
      `trained ${steps} steps in ${formatDuration(seconds * 1000)} (${formatRate((steps * trainer.tokensPerStep) / seconds)} tokens/s including evaluation)`,
    );
  }
  const val = result.validation;
  if (val) {
    log(`unigram baseline:      ${baseline.toFixed(4)} nats/token`);
    log(
      `${val.step === train.steps ? 'final validation loss' : `validation loss (step ${val.step})`}: ${val.loss.toFixed(4)} nats/token (${Math.abs(baseline - val.loss).toFixed(2)} ${val.loss < baseline ? 'below' : 'above'} the baseline), perplexity ${val.perplexity.toFixed(1)}, ${val.bitsPerByte?.toFixed(3)} bits/byte`,
    );
  }

  // 4. The headline numbers, for people and for the stages that build on this one.
  const summary = {
    backend: backend.name,
    parameters: model.numParameters(),
    steps: result.step,
    tokens: result.tokens,
    elapsedSeconds: result.elapsedSeconds,
    trainingTokensPerSecond: Math.round(
      tokensPerSecond(await readMetrics(join(outDir, TRAINER_OUTPUT_FILES.metrics))),
    ),
    unigramBaseline: baseline,
    validation: val
      ? { step: val.step, loss: val.loss, perplexity: val.perplexity, bitsPerByte: val.bitsPerByte }
      : null,
  };
  await writeFileAtomic(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

  // 5. Export and sample.
  await saveModel(model, join(outDir, 'model'));
  await writeSamples(model, tokenizer, config.sample, join(outDir, 'samples.txt'), (t) =>
    process.stdout.write(t),
  );
  log();
  log(`wrote ${outDir}/`);
  for (const [name, what] of [
    [TRAINER_OUTPUT_FILES.checkpoints, 'training checkpoints (resume with --resume)'],
    ['model', 'the final model in Hugging Face format (model.safetensors + config.json)'],
    [TOKENIZER_FILE, 'the tokenizer (Hugging Face tokenizer.json)'],
    [TRAINER_OUTPUT_FILES.metrics, 'metrics, one JSON record per logged step'],
    [TRAINER_OUTPUT_FILES.plot, 'the loss curves'],
    ['samples.txt', 'the samples above'],
    ['summary.json', 'the headline numbers (validation loss, baseline, tokens/s)'],
  ]) {
    log(`  ${name.padEnd(16)} ${what}`);
  }
  model.dispose();
}

main().catch((error: unknown) => {
  // Errors carry messages written for people; the stack only helps when debugging Kiln itself.
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\n${process.env.KILN_DEBUG && error instanceof Error ? error.stack : message}`);
  process.exit(1);
});
