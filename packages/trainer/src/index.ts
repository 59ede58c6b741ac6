/**
 * @kiln/trainer: the infrastructure around a training loop.
 *
 * - Data: the binary token file format (`encodeTokenFile`/`decodeTokenFile`, `writeTokenFile`/
 *   `readTokenFile`/`openTokenFile`), `TokenDataset` with a resumable `WindowSampler`.
 * - Learning-rate schedules: `constantSchedule`, `cosineSchedule`, `linearSchedule`, `createSchedule`.
 * - Reporting: `ProgressReporter`, JSONL metrics (`MetricsWriter`, `readMetrics`), loss-curve
 *   SVGs (`renderLossCurveSvg`, `writeLossCurve`).
 * - Checkpoints: `CheckpointDir` (atomic, keeps the last K) and `writeFileAtomic`.
 *
 * Functions that touch the file system (`writeTokenFile`, `readTokenFile`, `openTokenFile`,
 * `MetricsWriter`, `readMetrics`, `writeLossCurve`, `writeLossCurveFromMetrics`, `CheckpointDir`,
 * `writeFileAtomic`, `writeFileDurable`, `fsyncDirectory`) need Node. Everything else is pure and
 * runs in browsers too.
 *
 * ```ts
 * import { readTokenFile, TokenDataset, WindowSampler, cosineSchedule } from '@kiln/trainer';
 * const { tokens } = await readTokenFile('data/train.kilntok');
 * const data = new TokenDataset(tokens, { contextLength: 256 });
 * const sampler = new WindowSampler(1337);
 * const lr = cosineSchedule({ maxLr: 6e-4, minLr: 6e-5, warmupSteps: 100, totalSteps: 5000 });
 * const batch = data.sampleTrainBatch(16, sampler); // inputs/targets: Int32Array [16, 256]
 * ```
 * @packageDocumentation
 */

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
export { WindowSampler, type WindowSamplerState } from './data/window-sampler.js';
export {
  type FileContent,
  fsyncDirectory,
  writeFileAtomic,
  writeFileDurable,
} from './fs-atomic.js';
export { MetricsWriter, type MetricsWriterOptions, readMetrics } from './metrics.js';
export { formatMetricsLine, type MetricsRecord, parseMetricsJsonl } from './metrics-jsonl.js';
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
