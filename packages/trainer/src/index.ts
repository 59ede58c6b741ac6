/**
 * @kiln/trainer: training models, in browsers and in Node.
 *
 * - The step: `trainStep(model, optimizer, batches, objective)` runs one optimizer step of any
 *   {@link Objective} over micro-batches, averaging them by weight (so masked targets and uneven
 *   micro-batches give the gradient of their concatenation); `accumulateGradients`,
 *   `clipGradNorm`/`gradNorm` are its parts.
 * - Objectives: `languageModelObjective` (the default: the model's fused cross-entropy, weighted
 *   by target tokens); write your own as `(model, batch) => { loss, weight, metrics }`.
 * - Batches: a `Batch` is a record of named tensors; sources implement `BatchSource` (`next()`,
 *   `state()`/`restore()` for exact resume); `LanguageModelBatch` names the standard entries
 *   (`ids`, `targets`, `segments`, `positions`, `padding`); `uploadBatch`, `hostTensor`.
 * - The loop: `Trainer` (any objective over any source: accumulation, clipping, evaluation,
 *   metrics, checkpoints with exact resume through a `TrainerStorage`, NaN/Inf stop), and
 *   `evaluate` (weight-averaged loss, perplexity, bits per byte).
 * - Optimizers: `AdamW`, `SGD`, `defaultParamGroups` (no weight decay on biases, norms and
 *   embeddings).
 * - Data: `TokenDataset` (random training windows, a `BatchSource`) with a resumable
 *   `WindowSampler`; the binary token file format as bytes (`encodeTokenFile`/`decodeTokenFile`).
 * - Fine-tuning data (SFT): `parseChatJsonl` (`messages` or `prompt`/`completion` JSONL, errors
 *   with file and line), `tokenizeChats` (chat templates, loss on the assistant's tokens only,
 *   counted truncation), `packBestFitDecreasing`, `SFTDataset` (packed or padded rows with
 *   segments and positions, a `BatchSource`), `generationPrompts` and `exactMatchAccuracy`.
 * - Learning-rate schedules: `constantSchedule`, `cosineSchedule`, `linearSchedule`, `createSchedule`.
 * - Reporting: `ProgressReporter`, the JSONL metrics format (`formatMetricsLine`,
 *   `parseMetricsJsonl`), loss-curve SVGs (`renderLossCurveSvg`).
 *
 * This entry touches no files and bundles for the browser. Files come from
 * `@kiln/trainer/node`, which exports everything here plus a `Trainer` with an `outDir`
 * (`metrics.jsonl`, `loss.svg`, `checkpoints/`), `TrainerFiles`, `CheckpointDir`,
 * `saveTrainingCheckpoint`/`loadTrainingCheckpoint`, `readTokenFile`/`writeTokenFile`/
 * `openTokenFile`, `MetricsWriter`/`readMetrics`, `writeLossCurve` and the atomic writers.
 *
 * ```ts
 * import { bytesPerToken, readTokenFile, TokenDataset, Trainer } from '@kiln/trainer/node';
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
export { clipGradNorm, gradNorm } from './clip.js';
export {
  type Batch,
  type BatchInput,
  type BatchSource,
  batchTokens,
  disposeBatch,
  type HostTensor,
  hostTensor,
  IGNORE_INDEX,
  isHostTensor,
  type LanguageModelBatch,
  type LanguageModelBatchInput,
  tokenBatchInput,
  uploadBatch,
} from './data/batch.js';
export { batchToTensors } from './data/batch-tensors.js';
export { type TokenArray, type TokenBatch, TokenDataset, type TokenDatasetOptions } from './data/batches.js';
export { crc32 } from './data/crc32.js';
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
export { DeviceLossScaler } from './device-loss-scaler.js';
export { bitsPerByte, bytesPerToken, type EvalResult, type EvaluateOptions, evaluate } from './evaluate.js';
export { Float16Weights, requireFloat16 } from './float16-weights.js';
export { JsonFileError, parseJsonText } from './json-file.js';
export {
  forwardLoss,
  type LanguageModel,
  type LanguageModelForwardOptions,
  type ModelOutput,
  modelBackend,
} from './language-model.js';
export {
  checkLossScalerState,
  LOSS_SCALE_DEFAULTS,
  type LossScaleConfig,
  LossScaler,
  type LossScalerState,
  type LossScaleUpdate,
  MIN_LOSS_SCALE,
  resolveLossScaleConfig,
} from './loss-scaler.js';
export { formatMetricsLine, type MetricsRecord, parseMetricsJsonl } from './metrics-jsonl.js';
export { type MixedStepOptions, type MixedStepResult, trainStepMixed } from './mixed-step.js';
export { describeValue, NonFiniteError } from './non-finite.js';
export {
  type LanguageModelObjectiveOptions,
  languageModelObjective,
  type Objective,
  type ObjectiveOutput,
} from './objective.js';
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
  type StepOptions,
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
  chooseResumePoint,
  describeRefused,
  ResumeError,
  type ResumeOptions,
  type ResumePoint,
} from './resume.js';
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
export {
  type ChatExample,
  ChatExampleError,
  type ChatMessagesExample,
  type CheckChatExampleOptions,
  checkChatExample,
  DEFAULT_CHAT_ROLES,
  isPromptCompletion,
  type PromptCompletionExample,
} from './sft/chat-example.js';
export type { ChatLayoutOptions, ChatTokenizer } from './sft/chat-layout.js';
export {
  type ExactMatchOptions,
  type ExactMatchRecord,
  type ExactMatchResult,
  exactMatchAccuracy,
  type GeneratedAnswer,
  normalizeAnswer,
} from './sft/exact-match.js';
export {
  type GenerationPrompts,
  type GenerationPromptsOptions,
  generationPrompts,
} from './sft/generation-prompts.js';
export { packBestFitDecreasing } from './sft/pack.js';
export {
  ChatDataError,
  type ParseChatJsonlOptions,
  type ParsedChatJsonl,
  parseChatJsonl,
  type SkippedLine,
} from './sft/parse-jsonl.js';
export { assembleRows, nonPaddingTokens, type PackedRow } from './sft/sft-batch.js';
export {
  SFTDataset,
  type SFTDatasetOptions,
  type SFTDatasetStats,
  type SFTPacking,
  type SFTSequence,
} from './sft/sft-dataset.js';
export {
  nextTokenTargets,
  type TokenizeChatsOptions,
  type TokenizedChat,
  type TokenizedChats,
  tokenizeChats,
} from './sft/tokenize-chats.js';
export {
  firstNonFinite,
  nonFiniteStepError,
  type PendingStep,
  StepLog,
  type StepValues,
} from './step-log.js';
export {
  type Precision,
  resolveTrainConfig,
  TRAIN_DEFAULTS,
  type TrainConfig,
  type TrainConfigInput,
} from './train-config.js';
export { type TrainStepOptions, type TrainStepResult, trainStep } from './train-step.js';
export {
  type EvalInfo,
  type LogInfo,
  type SkippedStepInfo,
  type StepInfo,
  Trainer,
  type TrainerCallbacks,
  type TrainerOptions,
  type TrainResult,
} from './trainer.js';
export type {
  CheckpointInfo,
  CheckpointScan,
  MetricsLog,
  RefusedCheckpoint,
  TrainerStorage,
} from './trainer-storage.js';
export {
  parseTrainerState,
  type RunCounters,
  type TrainerState,
  type TrainingParts,
  trainerState,
} from './training-state.js';
