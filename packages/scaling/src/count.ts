/**
 * Counting a model: parameters (total, embedding, non-embedding, active per token) and FLOPs per
 * token, from a `GPTConfig` without building the model, or from any model's own report.
 *
 * The FLOP convention is `GPT.flopsPerToken`'s (so a count here equals the model's own):
 * training costs `6·N + 12·nLayers·dModel·seqLen` FLOPs per token, where N counts the
 * parameters that take part in a matrix product per token (every parameter except the position
 * table, and except the token table when it is not tied to the head: a table lookup is not a
 * product). 6 = 2 (multiply-add) × 3 (forward + backward); the second term is the attention
 * scores and weighted sum over the full sequence, as in the PaLM paper's MFU formula.
 */
import { feedForwardSpecs, type GPTConfig, resolveConfig } from '@kiln/transformer';

/**
 * What any model can say about itself, enough to count and cost it. Dense models have
 * `activeParams === totalParams`; a mixture of experts reports the parameters one token passes
 * through (shared layers + its top-k experts) as active, and its own FLOPs per token.
 */
export interface ModelReport {
  /** Every parameter the model stores (what memory, checkpoints and optimizer states scale with). */
  totalParams: number;
  /** Parameters used per token (FLOPs scale with these). */
  activeParams: number;
  /** Training FLOPs per token (forward + backward) at the sequence length the report is for. */
  flopsPerToken: number;
}

/** The counts of a GPT config (see {@link countGPT}). */
export interface GPTCounts extends ModelReport {
  /** Token table, position table (gpt2) and an untied output head: the vocabulary and position tables. */
  embeddingParams: number;
  /** `totalParams − embeddingParams` (Kaplan et al.'s N). */
  nonEmbeddingParams: number;
  /** Parameters that take part in a matrix product per token (the N of `6·N`). */
  matmulParams: number;
  /** The attention term of the training FLOPs per token, `12·nLayers·dModel·seqLen`. */
  attentionFlopsPerToken: number;
  /** Forward-only FLOPs per token (inference; a third of the training FLOPs). */
  inferenceFlopsPerToken: number;
  /** Sequence length the FLOPs are counted for. */
  seqLen: number;
}

/** Something with its own counts, like `GPT` (`numParameters`, `flopsPerToken`). */
export interface CountableModel {
  numParameters(): number;
  flopsPerToken(seqLen?: number): number;
  /** Parameters used per token, when fewer than all of them (mixture of experts). */
  activeParameters?(): number;
}

function feedForwardParams(kind: string, dModel: number, dFF: number, bias: boolean): number {
  if (kind === 'gelu') return 2 * dModel * dFF + (bias ? dFF + dModel : 0);
  if (kind === 'swiglu') return 3 * dModel * dFF + (bias ? 2 * dFF + dModel : 0);
  throw new Error(
    `countGPT: the feed-forward kind '${kind}' cannot be counted from a config here (only gelu and swiglu can); build the model and count it with modelReport(model), or pass its own { totalParams, activeParams, flopsPerToken }`,
  );
}

/**
 * Counts a GPT config exactly as `new GPT(config)` would build it (tested against
 * `numParameters()` and `flopsPerToken()`), without allocating anything.
 *
 * ```ts
 * countGPT({ family: 'llama', vocabSize: 32000, contextLength: 4096, nLayers: 32, nHeads: 32, dModel: 4096, dFF: 11008 })
 * // totalParams 6_738_415_616 (Llama 2 7B)
 * ```
 */
export function countGPT(config: GPTConfig, seqLen?: number): GPTCounts {
  const c = resolveConfig(config);
  const T = seqLen ?? c.contextLength;
  if (!(Number.isInteger(T) && T >= 1))
    throw new RangeError(`countGPT: seqLen must be a positive integer, got ${seqLen}`);
  const d = c.dModel;
  const headDim = d / c.nHeads;
  const norm = c.family === 'gpt2' ? d * (c.bias ? 2 : 1) : d; // LayerNorm gain (+ bias) or RMSNorm gain
  const attention =
    d * (c.nHeads + 2 * c.nKvHeads) * headDim +
    (c.bias ? (c.nHeads + 2 * c.nKvHeads) * headDim : 0) +
    c.nHeads * headDim * d +
    (c.bias ? d : 0) +
    (c.qkNorm ? 2 * headDim : 0);
  let blocks = 0;
  for (const spec of feedForwardSpecs(c)) {
    const dFF = typeof spec.dFF === 'number' ? spec.dFF : c.dFF;
    blocks += 2 * norm + attention + feedForwardParams(spec.kind, d, dFF, c.bias);
  }
  const tokenTable = c.vocabSize * d;
  const positionTable = c.family === 'gpt2' ? c.contextLength * d : 0;
  const head = c.tieEmbeddings ? 0 : c.vocabSize * d;
  const totalParams = tokenTable + positionTable + blocks + norm + head;
  const embeddingParams = tokenTable + positionTable + head;
  // The token table is a product when it is the (tied) head; a lookup otherwise.
  const matmulParams = totalParams - positionTable - (c.tieEmbeddings ? 0 : tokenTable);
  const attentionFlopsPerToken = 12 * c.nLayers * d * T;
  const flopsPerToken = 6 * matmulParams + attentionFlopsPerToken;
  return {
    totalParams,
    activeParams: totalParams,
    embeddingParams,
    nonEmbeddingParams: totalParams - embeddingParams,
    matmulParams,
    flopsPerToken,
    attentionFlopsPerToken,
    inferenceFlopsPerToken: flopsPerToken / 3,
    seqLen: T,
  };
}

/** The report of a built model (a `GPT`, or any model with the same two methods, e.g. an MoE). */
export function modelReport(model: CountableModel, seqLen?: number): ModelReport {
  const totalParams = model.numParameters();
  return {
    totalParams,
    activeParams: model.activeParameters?.() ?? totalParams,
    flopsPerToken: model.flopsPerToken(seqLen),
  };
}

/** A model given as a config, a built model, a report, or a bare parameter count (then 6·N FLOPs per token). */
export type ModelLike = GPTConfig | CountableModel | ModelReport | number;

function isReport(value: object): value is ModelReport {
  return 'totalParams' in value && 'activeParams' in value && 'flopsPerToken' in value;
}

/** Checks a report's numbers, naming the bad field. */
export function checkReport(report: ModelReport, where = 'model report'): ModelReport {
  for (const key of ['totalParams', 'activeParams', 'flopsPerToken'] as const) {
    const v = report[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`${where}: ${key} must be a positive finite number, got ${JSON.stringify(v)}`);
    }
  }
  if (report.activeParams > report.totalParams) {
    throw new RangeError(
      `${where}: activeParams (${report.activeParams}) cannot exceed totalParams (${report.totalParams})`,
    );
  }
  return report;
}

/**
 * The counts of any {@link ModelLike}: a config is counted with {@link countGPT}, a built model
 * reports itself, a report is checked and returned, and a number N means a dense model with
 * `6·N` training FLOPs per token (the attention term needs the shape, so it is left out).
 */
export function countModel(model: ModelLike, seqLen?: number): ModelReport {
  if (typeof model === 'number') {
    if (!(Number.isFinite(model) && model > 0)) {
      throw new RangeError(`countModel: a parameter count must be a positive number, got ${model}`);
    }
    return { totalParams: model, activeParams: model, flopsPerToken: 6 * model };
  }
  if (model === null || typeof model !== 'object') {
    throw new TypeError(
      `countModel: expected a GPTConfig, a model with numParameters() and flopsPerToken(), a { totalParams, activeParams, flopsPerToken } report or a parameter count, got ${model}`,
    );
  }
  if (isReport(model)) return checkReport(model);
  if (typeof (model as CountableModel).numParameters === 'function') {
    return checkReport(modelReport(model as CountableModel, seqLen), 'modelReport');
  }
  return countGPT(model as GPTConfig, seqLen);
}

/** Training FLOPs for `tokens` tokens: `flopsPerToken · tokens`. */
export function trainingFlops(model: ModelLike, tokens: number, seqLen?: number): number {
  checkPositive('trainingFlops: tokens', tokens);
  return countModel(model, seqLen).flopsPerToken * tokens;
}

/** Forward-only FLOPs for processing `tokens` tokens (prompt or generation): a third of training's. */
export function inferenceFlops(model: ModelLike, tokens: number, seqLen?: number): number {
  checkPositive('inferenceFlops: tokens', tokens);
  return (countModel(model, seqLen).flopsPerToken / 3) * tokens;
}

/** Throws a RangeError naming `what` unless `value` is a positive finite number. */
export function checkPositive(what: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${what} must be a positive finite number, got ${JSON.stringify(value)}`);
  }
}
