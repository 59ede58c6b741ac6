/**
 * What a training run costs: FLOPs, accelerator-hours, wall-clock days, dollars, and whether the
 * model fits on each device.
 *
 * time = FLOPs / (count · peak · MFU), where MFU (model FLOPs utilisation, Chowdhery et al. 2022)
 * is the fraction of the peak that the model's own FLOPs reach: large, well-tuned runs reach
 * 0.35–0.55 on A100/H100 in bf16; the Llama 2 paper's GPU-hours imply ~0.39–0.43 with 6·N·D.
 */
import { type Accelerator, type ComputeFormat, getAccelerator, peakFlops } from './accelerators.js';
import { checkPositive, countGPT, countModel, type ModelLike } from './count.js';
import {
  type ActivationShape,
  type Checkpointing,
  type MemoryEstimate,
  type OptimizerKind,
  type Precision,
  trainingMemory,
} from './memory.js';

/** Options of {@link estimateTraining}. */
export interface TrainingEstimateOptions {
  /** The model: a parameter count N (then 6·N FLOPs per token), a `GPTConfig`, a built model or its report. */
  params: ModelLike;
  /** Training tokens D. */
  tokens: number;
  /** An accelerator or its id (see `ACCELERATORS`). */
  accelerator: Accelerator | string;
  /** Accelerators in the run (default 1). */
  count?: number;
  /** Model FLOPs utilisation, in (0, 1] (default 0.4). */
  mfu?: number;
  /** USD per accelerator-hour (default: the table's typical price; none → cost null). */
  pricePerHour?: number;
  /** Number format of the products (default: the fastest the accelerator has, bf16 on GPUs). */
  format?: ComputeFormat;
  /** Storage precision of model states (default `mixed`; `fp32` when format is fp32). */
  precision?: Precision;
  /** Default `adamw`. */
  optimizer?: OptimizerKind;
  /** Sequence length for activations and attention FLOPs (default: a config's contextLength). */
  seqLen?: number;
  /** Rows per micro-batch per device, for activations (default 1). */
  microBatch?: number;
  /** Default `none`. */
  checkpointing?: Checkpointing;
  /**
   * `full` (default): weights, gradients and optimizer states are sharded over all `count`
   * devices (ZeRO-3 / FSDP); `none`: every device holds a full replica (plain data parallel).
   */
  sharding?: 'full' | 'none';
  /** Bytes per parameter of the released weights file (default 2: bf16/fp16). */
  fileBytesPerParameter?: number;
}

/** What {@link estimateTraining} returns. */
export interface TrainingEstimate {
  params: number;
  activeParams: number;
  tokens: number;
  flopsPerToken: number;
  /** Training FLOPs: flopsPerToken · tokens. */
  flops: number;
  accelerator: Accelerator;
  count: number;
  mfu: number;
  /** The format whose peak was used. */
  format: ComputeFormat;
  /** Peak FLOP/s of one accelerator in that format. */
  peakFlopsPerDevice: number;
  /** flops / (peak · mfu) / 3600. */
  acceleratorHours: number;
  /** Wall-clock seconds on `count` accelerators. */
  seconds: number;
  days: number;
  pricePerHour: number | null;
  /** acceleratorHours · pricePerHour, or null without a price. */
  cost: number | null;
  /** Memory per device (activations only when the shape is known: a GPTConfig). */
  memory: MemoryEstimate;
  /** memory.total ≤ accelerator.memoryBytes (null when the accelerator's memory is unknown). */
  fits: boolean | null;
  /** Size of the released weights, params · fileBytesPerParameter. */
  parameterFileBytes: number;
}

function resolveAccelerator(accelerator: Accelerator | string): Accelerator {
  if (typeof accelerator === 'string') return getAccelerator(accelerator);
  if (accelerator === null || typeof accelerator !== 'object' || !accelerator.peakFlops) {
    throw new TypeError(`estimateTraining: accelerator must be an Accelerator or an id such as 'a100-80gb'`);
  }
  return accelerator;
}

function checkMfu(mfu: number): void {
  if (!(typeof mfu === 'number' && mfu > 0 && mfu <= 1)) {
    throw new RangeError(`mfu must be in (0, 1] (a fraction of the peak, e.g. 0.4), got ${mfu}`);
  }
}

/** The activation shape of a config-like model, or undefined for a bare count or report. */
function activationShape(
  params: ModelLike,
  seqLen: number | undefined,
  microBatch: number,
): ActivationShape | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  if (!('family' in params) || !('dModel' in params)) return undefined;
  const config = params;
  countGPT(config); // validates
  return {
    nLayers: config.nLayers,
    dModel: config.dModel,
    nHeads: config.nHeads,
    seqLen: seqLen ?? config.contextLength,
    microBatch,
    vocabSize: config.vocabSize,
  };
}

/**
 * Estimates a training run.
 *
 * ```ts
 * const e = estimateTraining({ params: 70e9, tokens: 2e12, accelerator: 'a100-80gb', count: 6000, mfu: 0.4 });
 * e.acceleratorHours; // 1.82M GPU-hours; e.days ≈ 12.7; e.cost ≈ $2.2M at $1.20/h
 * ```
 */
export function estimateTraining(options: TrainingEstimateOptions): TrainingEstimate {
  const { tokens, count = 1, mfu = 0.4, microBatch = 1, checkpointing = 'none', sharding = 'full' } = options;
  checkPositive('estimateTraining: tokens', tokens);
  if (!(Number.isInteger(count) && count >= 1)) {
    throw new RangeError(`estimateTraining: count must be a positive integer (accelerators), got ${count}`);
  }
  checkMfu(mfu);
  if (sharding !== 'full' && sharding !== 'none') {
    throw new RangeError(
      `estimateTraining: sharding must be 'full' or 'none', got ${JSON.stringify(sharding)}`,
    );
  }
  const accelerator = resolveAccelerator(options.accelerator);
  const { format, flops: peak } = peakFlops(accelerator, options.format);
  const report = countModel(options.params, options.seqLen);
  const flops = report.flopsPerToken * tokens;
  const acceleratorSeconds = flops / (peak * mfu);
  const seconds = acceleratorSeconds / count;
  const pricePerHour = options.pricePerHour ?? accelerator.pricePerHour;
  if (pricePerHour !== null) checkPositive('estimateTraining: pricePerHour', pricePerHour);
  const precision = options.precision ?? (format === 'fp32' ? 'fp32' : 'mixed');
  const memory = trainingMemory({
    params: report.totalParams,
    precision,
    optimizer: options.optimizer,
    activations: activationShape(options.params, options.seqLen, microBatch),
    checkpointing,
    shards: sharding === 'full' ? count : 1,
  });
  const fileBytes = options.fileBytesPerParameter ?? 2;
  checkPositive('estimateTraining: fileBytesPerParameter', fileBytes);
  return {
    params: report.totalParams,
    activeParams: report.activeParams,
    tokens,
    flopsPerToken: report.flopsPerToken,
    flops,
    accelerator,
    count,
    mfu,
    format,
    peakFlopsPerDevice: peak,
    acceleratorHours: acceleratorSeconds / 3600,
    seconds,
    days: seconds / 86400,
    pricePerHour,
    cost: pricePerHour === null ? null : (acceleratorSeconds / 3600) * pricePerHour,
    memory,
    fits: accelerator.memoryBytes > 0 ? memory.total <= accelerator.memoryBytes : null,
    parameterFileBytes: report.totalParams * fileBytes,
  };
}

/** Options of {@link impliedMfu}. */
export interface ImpliedMfuOptions {
  /** The model (as in {@link estimateTraining}). */
  params: ModelLike;
  tokens: number;
  /** Accelerator-hours the run took. */
  acceleratorHours: number;
  accelerator: Accelerator | string;
  /** Default: the fastest format the accelerator has. */
  format?: ComputeFormat;
  seqLen?: number;
}

/**
 * The MFU a reported run implies: its model FLOPs over what the accelerator-hours could do at
 * peak, `flopsPerToken · tokens / (hours · 3600 · peak)`.
 */
export function impliedMfu(options: ImpliedMfuOptions): number {
  checkPositive('impliedMfu: tokens', options.tokens);
  checkPositive('impliedMfu: acceleratorHours', options.acceleratorHours);
  const { flops: peak } = peakFlops(resolveAccelerator(options.accelerator), options.format);
  const flops = countModel(options.params, options.seqLen).flopsPerToken * options.tokens;
  return flops / (options.acceleratorHours * 3600 * peak);
}
