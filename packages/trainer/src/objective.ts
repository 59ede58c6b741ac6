/**
 * Objectives: what a training step minimises. An objective maps `(model, batch)` to a loss, the
 * weight that loss is an average over, and metrics to log. Gradient accumulation and evaluation
 * average micro-batches by weight (see `trainStep`), so the weight must count what the loss
 * averages: target tokens for language-model losses, pairs for preference losses, sequences or
 * tokens for policy losses.
 */
import { Tensor } from '@kiln/tensor';
import { type Batch, IGNORE_INDEX } from './data/batch.js';
import { checkModelLoss, type LanguageModel, type LanguageModelForwardOptions } from './language-model.js';

/** What an objective returns for one batch. */
export interface ObjectiveOutput {
  /** 0-d float: the mean of the loss over `weight` (the tensor backward runs from). */
  loss: Tensor;
  /**
   * What `loss` is averaged over, `≥ 0`: a number, or a 0-d tensor computed on the device (no
   * read-back). A batch of weight 0 adds nothing to the step's loss and metrics, even when they
   * are NaN (an all-masked batch's mean), and its gradient is scaled by 0, so the loss's own
   * backward must stay finite there (the fused cross-entropy gives exact zeros for ignored
   * targets).
   */
  weight: number | Tensor;
  /** Values to log, 0-d tensors or numbers; averaged over micro-batches by weight like the loss. */
  metrics?: Readonly<Record<string, Tensor | number>>;
}

/** Maps a model and a batch to a loss, its weight and metrics. `M` is the model type it needs. */
export type Objective<M = LanguageModel> = (model: M, batch: Batch) => ObjectiveOutput;

/** An objective output whose parts were checked; metrics are always present. */
export interface CheckedOutput {
  loss: Tensor;
  weight: number | Tensor;
  metrics: Readonly<Record<string, Tensor | number>>;
}

function isScalarTensor(value: unknown): value is Tensor {
  return value instanceof Tensor && value.size === 1 && !value.isDisposed;
}

/**
 * Checks an objective's output and throws a clear error, naming `who` and what is wrong: a
 * missing or non-0-d loss, a loss that is not floating point, a weight that is not a
 * non-negative number or a 0-d tensor, a metric that is not a single number.
 */
export function checkObjectiveOutput(output: unknown, who: string): CheckedOutput {
  const out = output as ObjectiveOutput | undefined;
  if (typeof out !== 'object' || out === null) {
    throw new TypeError(`${who}: the objective must return { loss, weight, metrics? }, got ${String(out)}`);
  }
  const { loss, weight, metrics = {} } = out;
  if (!(loss instanceof Tensor)) {
    throw new TypeError(
      `${who}: the objective returned no loss tensor; return { loss: <0-d tensor>, weight }`,
    );
  }
  if (loss.ndim !== 0) {
    throw new TypeError(
      `${who}: the objective returned a loss of shape [${loss.shape}]; it must be 0-d, the mean over the weight (reduce it with .mean() or .sum() / weight)`,
    );
  }
  if (loss.dtype !== 'float32' && loss.dtype !== 'float16') {
    throw new TypeError(`${who}: the objective's loss must be float32 or float16, got ${loss.dtype}`);
  }
  if (typeof weight === 'number') {
    if (!(Number.isFinite(weight) && weight >= 0)) {
      throw new RangeError(
        `${who}: the objective's weight must be a finite number ≥ 0 (what the loss averages over, e.g. target tokens), got ${weight}`,
      );
    }
  } else if (!(weight instanceof Tensor) || weight.ndim !== 0 || weight.dtype === 'bool') {
    throw new TypeError(
      `${who}: the objective's weight must be a number or a numeric 0-d tensor (what the loss averages over), got ${weight instanceof Tensor ? `a ${weight.dtype} tensor of shape [${weight.shape}]` : String(weight)}`,
    );
  }
  if (typeof metrics !== 'object' || metrics === null) {
    throw new TypeError(`${who}: the objective's metrics must be a record of 0-d tensors or numbers`);
  }
  for (const [name, value] of Object.entries(metrics)) {
    if (typeof value === 'number' || (isScalarTensor(value) && value.dtype !== 'bool')) continue;
    throw new TypeError(
      `${who}: metric '${name}' must be a number or a single-number tensor, got ${value instanceof Tensor ? `shape [${value.shape}]` : typeof value}`,
    );
  }
  return { loss, weight, metrics };
}

/** Options of {@link languageModelObjective}. */
export interface LanguageModelObjectiveOptions {
  /**
   * The target value without a loss (default -100). Only the weight is counted with it; the
   * model's loss ignores its own index (GPT's is -100), so the two must agree.
   */
  ignoreIndex?: number;
}

const MASK_KEYS = ['segments', 'positions', 'padding'] as const;

/**
 * The default objective: next-token cross-entropy, computed by the model itself (its fused
 * logits + cross-entropy path). Reads the batch's `ids` and `targets` (and `segments`,
 * `positions`, `padding` when present; see `LanguageModelBatch`) and calls
 * `model.forward(ids, targets)`, or `model.forward(ids, { targets, segments, positions, padding })`
 * when the batch has any of the last three. Other batch entries are ignored.
 *
 * - `loss`: the model's mean loss plus the sum of its `auxLosses`;
 * - `weight`: the number of targets that are not `ignoreIndex`, counted on the device;
 * - `metrics`: each auxiliary loss and each of the model's `metrics`, by name.
 */
export function languageModelObjective(
  options: LanguageModelObjectiveOptions = {},
): Objective<LanguageModel> {
  const { ignoreIndex = IGNORE_INDEX } = options;
  if (!Number.isInteger(ignoreIndex)) {
    throw new RangeError(`languageModelObjective: ignoreIndex must be an integer, got ${ignoreIndex}`);
  }
  return (model, batch) => {
    const { ids, targets } = batch;
    if (!ids || !targets) {
      const has = Object.keys(batch).join(', ') || 'nothing';
      throw new TypeError(
        `languageModelObjective: the batch needs 'ids' and 'targets' (int32 [B, T]); it has ${has}`,
      );
    }
    const masks: LanguageModelForwardOptions = {};
    for (const key of MASK_KEYS) if (batch[key]) masks[key] = batch[key];
    const out =
      Object.keys(masks).length === 0
        ? model.forward(ids, targets)
        : model.forward(ids, { targets, ...masks });
    const modelLoss = checkModelLoss(model, out);
    let loss = modelLoss.ndim === 0 ? modelLoss : modelLoss.reshape([]);
    const metrics: Record<string, Tensor> = {};
    for (const [name, aux] of Object.entries(out.auxLosses ?? {})) {
      if (!isScalarTensor(aux)) {
        throw new TypeError(
          `${model.constructor.name}.forward returned auxiliary loss '${name}' that is not a single number`,
        );
      }
      loss = loss.add(aux.reshape([]));
      metrics[name] = aux;
    }
    for (const [name, value] of Object.entries(out.metrics ?? {})) {
      if (name in metrics) {
        throw new Error(
          `${model.constructor.name}.forward returned '${name}' both as an auxiliary loss and as a metric; give them different names`,
        );
      }
      metrics[name] = value;
    }
    const weight = targets.ne(ignoreIndex).cast('float32').sum();
    return { loss, weight, metrics };
  };
}
