/**
 * Training memory: model states (weights, gradients, optimizer states) and activations.
 *
 * Model states per parameter (Rajbhandari et al. 2020, "ZeRO", §3.1, who count 16 bytes for
 * mixed-precision Adam):
 *
 * | precision           | weights      | gradients    | optimizer (AdamW)                  | total    |
 * | ------------------- | ------------ | ------------ | ---------------------------------- | -------- |
 * | `fp32`              | 4 (fp32)     | 4 (fp32)     | 8 (m, v in fp32)                   | 16 bytes |
 * | `mixed`             | 2 (bf16/fp16) | 2 (bf16/fp16) | 12 (fp32 master weights, m, v)    | 16 bytes |
 * | `mixed-fp32-grads`  | 2            | 4 (fp32 accumulation) | 12                        | 18 bytes |
 *
 * SGD with momentum keeps one fp32 buffer (4 bytes, plus the fp32 master copy in mixed
 * precision); plain SGD none.
 *
 * Activations per transformer layer, from Korthikanti et al. 2022 ("Reducing Activation
 * Recomputation in Large Transformer Models", eq. 1 and §5), for sequence length s, micro-batch
 * b, width h and a heads, with 16-bit activations and no tensor/sequence parallelism:
 *
 * - no recomputation: `s·b·h·(34 + 5·a·s/h)` bytes (attention 11·sbh + 5·a·s²·b, MLP 19·sbh,
 *   norms 4·sbh; derived for a 4h GELU MLP with dropout — an approximation for other shapes);
 * - selective recomputation (the attention core is recomputed): `34·s·b·h`;
 * - full recomputation (only each layer's input is kept): `2·s·b·h`.
 *
 * In fp32 every activation is twice as large. On top of the layers we count the fp32 logits the
 * cross-entropy keeps, `4·s·b·V` bytes (not part of the paper's per-layer formula).
 */
import { checkPositive } from './count.js';

/** How weights, gradients and optimizer states are stored. */
export type Precision = 'fp32' | 'mixed' | 'mixed-fp32-grads';

/** Which optimizer's states are held. */
export type OptimizerKind = 'adamw' | 'sgd-momentum' | 'sgd';

/** What is recomputed in backward instead of kept from forward. */
export type Checkpointing = 'none' | 'selective' | 'full';

/** The shape that activations depend on. */
export interface ActivationShape {
  nLayers: number;
  dModel: number;
  nHeads: number;
  /** Sequence length per row. */
  seqLen: number;
  /** Rows per micro-batch on one device. */
  microBatch: number;
  /** Vocabulary size, for the logits (default: logits not counted). */
  vocabSize?: number;
}

/** Options of {@link trainingMemory}. */
export interface MemoryOptions {
  /** Parameters whose states are stored (total parameters, not active ones). */
  params: number;
  /** Default `mixed`. */
  precision?: Precision;
  /** Default `adamw`. */
  optimizer?: OptimizerKind;
  /** The activation shape; without it activations count 0. */
  activations?: ActivationShape;
  /** Default `none`. */
  checkpointing?: Checkpointing;
  /**
   * Devices the model states are sharded over (ZeRO stage 3 / FSDP): each holds 1/shards of the
   * weights, gradients and optimizer states. Default 1 (every device holds everything).
   */
  shards?: number;
}

/** Bytes on one device. */
export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  /** Sum of the four. */
  total: number;
  /** Model-state bytes per parameter before sharding (16 for mixed-precision AdamW). */
  bytesPerParameter: number;
}

const PRECISIONS: readonly Precision[] = ['fp32', 'mixed', 'mixed-fp32-grads'];
const OPTIMIZERS: readonly OptimizerKind[] = ['adamw', 'sgd-momentum', 'sgd'];
const CHECKPOINTING: readonly Checkpointing[] = ['none', 'selective', 'full'];

function oneOf<T extends string>(what: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new RangeError(`${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Model-state bytes per parameter: `{ weights, gradients, optimizer }`. */
export function stateBytesPerParameter(
  precision: Precision = 'mixed',
  optimizer: OptimizerKind = 'adamw',
): { weights: number; gradients: number; optimizer: number } {
  oneOf('precision', precision, PRECISIONS);
  oneOf('optimizer', optimizer, OPTIMIZERS);
  const moments = optimizer === 'adamw' ? 8 : optimizer === 'sgd-momentum' ? 4 : 0;
  if (precision === 'fp32') return { weights: 4, gradients: 4, optimizer: moments };
  // Mixed precision keeps an fp32 master copy of the weights with the optimizer (ZeRO's K = 12).
  return { weights: 2, gradients: precision === 'mixed' ? 2 : 4, optimizer: 4 + moments };
}

/**
 * Activation bytes for one micro-batch (see the module comment for the formula and its source).
 */
export function activationBytes(
  shape: ActivationShape,
  checkpointing: Checkpointing = 'none',
  precision: Precision = 'mixed',
): number {
  for (const key of ['nLayers', 'dModel', 'nHeads', 'seqLen', 'microBatch'] as const) {
    checkPositive(`activations.${key}`, shape[key]);
  }
  oneOf('checkpointing', checkpointing, CHECKPOINTING);
  const { nLayers: L, dModel: h, nHeads: a, seqLen: s, microBatch: b } = shape;
  const sbh = s * b * h;
  const perLayer =
    checkpointing === 'full'
      ? 2 * sbh
      : checkpointing === 'selective'
        ? 34 * sbh
        : sbh * (34 + (5 * a * s) / h);
  const scale = precision === 'fp32' ? 2 : 1; // the paper counts 16-bit activations
  const logits = shape.vocabSize === undefined ? 0 : 4 * s * b * shape.vocabSize;
  return L * perLayer * scale + logits;
}

/** Memory per device for training (see the module comment for the formulas and their sources). */
export function trainingMemory(options: MemoryOptions): MemoryEstimate {
  const { params, precision = 'mixed', optimizer = 'adamw', checkpointing = 'none', shards = 1 } = options;
  checkPositive('trainingMemory: params', params);
  if (!(Number.isInteger(shards) && shards >= 1)) {
    throw new RangeError(`trainingMemory: shards must be a positive integer, got ${shards}`);
  }
  const per = stateBytesPerParameter(precision, optimizer);
  const weights = (params * per.weights) / shards;
  const gradients = (params * per.gradients) / shards;
  const optimizerBytes = (params * per.optimizer) / shards;
  const activations = options.activations
    ? activationBytes(options.activations, checkpointing, precision)
    : 0;
  return {
    weights,
    gradients,
    optimizer: optimizerBytes,
    activations,
    total: weights + gradients + optimizerBytes + activations,
    bytesPerParameter: per.weights + per.gradients + per.optimizer,
  };
}
