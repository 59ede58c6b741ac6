/**
 * @kiln/trainer: training language models.
 *
 * - The loop: `Trainer` (gradient accumulation, clipping, evaluation, metrics, plots,
 *   checkpoints with exact resume, NaN/Inf stop), built from parts you can use alone:
 *   `accumulateGradients`, `clipGradNorm`/`gradNorm`, `evaluate`, `saveTrainingCheckpoint`/
 *   `loadTrainingCheckpoint`.
 * - Optimizers: `AdamW`, `SGD`, `defaultParamGroups` (no weight decay on biases, norms and
 *   embeddings).
 * - Data: the binary token file format (`encodeTokenFile`/`decodeTokenFile`, `writeTokenFile`/
 *   `readTokenFile`/`openTokenFile`), `TokenDataset` with a resumable `WindowSampler`.
 * - Learning-rate schedules: `constantSchedule`, `cosineSchedule`, `linearSchedule`, `createSchedule`.
 * - Reporting: `ProgressReporter`, JSONL metrics (`MetricsWriter`, `readMetrics`), loss-curve
 *   SVGs (`renderLossCurveSvg`, `writeLossCurve`).
 * - Checkpoints: `CheckpointDir` (atomic, keeps the last K). The atomic file writer it uses is
 *   `writeFileAtomic` from `@kiln/tensor/node`.
 *
 * What touches the file system (`Trainer` with an `outDir`, `saveTrainingCheckpoint`,
 * `loadTrainingCheckpoint`, `writeTokenFile`, `readTokenFile`, `openTokenFile`, `MetricsWriter`,
 * `readMetrics`, `writeLossCurve`, `writeLossCurveFromMetrics`, `CheckpointDir`) needs Node.
 * Optimizers, clipping, accumulation, evaluation, datasets, schedules and plots are pure.
 *
 * ```ts
 * import { readTokenFile, TokenDataset, Trainer, bytesPerToken } from '@kiln/trainer';
 * const { header, tokens } = await readTokenFile('data/train.kilntok');
 * const data = new TokenDataset(tokens, { contextLength: model.config.contextLength });
 * const trainer = new Trainer({ model, data, outDir: 'runs/a', bytesPerToken: bytesPerToken(header),
 *   config: { steps: 2000, batchSize: 16, schedule: { kind: 'cosine', maxLr: 1e-3, minLr: 1e-4, warmupSteps: 100 } } });
 * await trainer.resume(); // continue from runs/a/checkpoints when there is a checkpoint
 * const { validation } = await trainer.train();
 * ```
 * @packageDocumentation
 */

export { accumulateGradients } from './accumulate.js';
export {
  CHECKPOINT_MANIFEST,
  CheckpointDir,
  type CheckpointDirOptions,
  type CheckpointInfo,
  type CheckpointStage,
  type CheckpointWriter,
  checkpointDirName,
  LATEST_POINTER,
} from './checkpoint-dir.js';
export { clipGradNorm, gradNorm } from './clip.js';
export { batchToTensors } from './data/batch-tensors.js';
export { type TokenArray, type TokenBatch, TokenDataset, type TokenDatasetOptions } from './data/batches.js';
export { crc32 } from './data/crc32.js';
export { type OpenTokenFile, openTokenFile, readTokenFile, writeTokenFile } from './data/token-file.js';
export {
  checkTokenChecksum,
  type DecodeTokenFileOptions,
  decodeTokenFile,
  encodeTokenFile,
  encodeTokenFileParts,
  type JsonValue,
  parseTokenFileFixedHeader,
  parseTokenFileHeader,
  TOKEN_FILE_FIXED_HEADER_BYTES,
  TOKEN_FILE_MAGIC,
  TOKEN_FILE_MAX_METADATA_BYTES,
  TOKEN_FILE_MAX_VOCAB_SIZE,
  TOKEN_FILE_VERSION,
  type TokenDType,
  type TokenFile,
  TokenFileError,
  type TokenFileHeader,
  type TokenFileMetadata,
  type TokenFileOptions,
  tokenDTypeForVocab,
  tokenItemSize,
  tokensFromBytes,
} from './data/token-format.js';
export { unigramEntropy } from './data/unigram.js';
export { WindowSampler, type WindowSamplerState } from './data/window-sampler.js';
export { bitsPerByte, bytesPerToken, type EvalResult, type EvaluateOptions, evaluate } from './evaluate.js';
export { forwardLoss, type LanguageModel, modelBackend } from './language-model.js';
export { MetricsWriter, type MetricsWriterOptions, readMetrics } from './metrics.js';
export { formatMetricsLine, type MetricsRecord, parseMetricsJsonl } from './metrics-jsonl.js';
export { describeValue, NonFiniteError } from './non-finite.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export {
  type NamedParameter,
  type ParamGroup,
  type ParamsInput,
  type ResolvedParamGroup,
  resolveParamGroups,
} from './optim/named-params.js';
export {
  type Hyperparameters,
  Optimizer,
  type OptimizerStateDict,
  type UpdateContext,
} from './optim/optimizer.js';
export { type DefaultParamGroupsOptions, defaultParamGroups, isEmbeddingName } from './optim/param-groups.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export {
  type AxisScale,
  type LineChartOptions,
  type LossCurveOptions,
  lossSeriesFromMetrics,
  type PlotSeries,
  renderLineChartSvg,
  renderLossCurveSvg,
} from './plot.js';
export { writeLossCurve, writeLossCurveFromMetrics } from './plot-file.js';
export {
  formatDuration,
  formatRate,
  isCI,
  type ProgressOptions,
  ProgressReporter,
  type ProgressStream,
  type ProgressUpdate,
} from './progress.js';
export {
  type ConstantScheduleConfig,
  type CosineScheduleConfig,
  constantSchedule,
  cosineSchedule,
  createSchedule,
  type LinearScheduleConfig,
  type LrSchedule,
  linearSchedule,
  type ScheduleConfig,
} from './schedule.js';
export { firstNonFinite, nonFiniteStepError, StepLog, type StepValues } from './step-log.js';
export {
  resolveTrainConfig,
  TRAIN_DEFAULTS,
  type TrainConfig,
  type TrainConfigInput,
} from './train-config.js';
export {
  type EvalInfo,
  type LogInfo,
  type StepInfo,
  TRAINER_OUTPUT_FILES,
  Trainer,
  type TrainerCallbacks,
  type TrainerOptions,
  type TrainResult,
} from './trainer.js';
export {
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  TRAINING_CHECKPOINT_FILES,
  type TrainerState,
  type TrainingParts,
} from './training-checkpoint.js';
