/**
 * Evaluation: the weight-averaged loss of an objective over held-out batches, with perplexity
 * and bits per byte for language-model losses.
 *
 * Loss per token depends on the tokenizer (a bigger vocabulary packs more text into each
 * token), so runs with different tokenizers are compared in bits per byte: the loss in bits
 * divided by the average bytes of text per token, which the token file's metadata records.
 */
import { type Module, noGrad } from '@kiln/autograd';
import { scope, stack } from '@kiln/tensor';
import { type BatchInput, batchTokens, tokenBatchInput, uploadBatch } from './data/batch.js';
import { TokenDataset } from './data/batches.js';
import type { TokenFileHeader } from './data/token-format.js';
import { type LanguageModel, modelBackend } from './language-model.js';
import { checkObjectiveOutput, languageModelObjective, type Objective } from './objective.js';
import { WeightedMean } from './weighted-mean.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions<M = LanguageModel> {
  /** Windows per forward pass (default 8); a TokenDataset only. */
  batchSize?: number;
  /** Evaluate only the first this many validation windows (default: all), the same ones every time; a TokenDataset only. */
  maxWindows?: number;
  /** Average UTF-8 bytes of text per token, for bits per byte (see {@link bytesPerToken}). */
  bytesPerToken?: number;
  /** What to evaluate (default: {@link languageModelObjective}). */
  objective?: Objective<M>;
}

/** Evaluation results. */
export interface EvalResult {
  /** The objective's loss averaged by weight: for language modelling, the mean cross-entropy per target token, in nats. */
  loss: number;
  /** `exp(loss)`: for language modelling, the effective number of equally likely next tokens. */
  perplexity: number;
  /** `loss / ln 2 / bytesPerToken`, when `bytesPerToken` was given. */
  bitsPerByte?: number;
  /** Input tokens evaluated (elements of the batches' `ids`); for a TokenDataset, also the target tokens. */
  tokens: number;
  /** The total weight the loss was averaged over (target tokens for language modelling). */
  weight: number;
  /** The objective's metrics, averaged by weight like the loss. */
  metrics: Record<string, number>;
}

/** Bits per byte from a loss in nats per token and the average bytes per token. */
export function bitsPerByte(lossNats: number, bytesPerToken: number): number {
  return lossNats / Math.LN2 / bytesPerToken;
}

/**
 * Average bytes of source text per token from a token file header: its metadata's
 * `sourceBytes` over its token count. Undefined when the metadata does not record the bytes.
 */
export function bytesPerToken(header: Pick<TokenFileHeader, 'metadata' | 'tokenCount'>): number | undefined {
  const bytes = header.metadata?.sourceBytes;
  if (typeof bytes !== 'number' || !(bytes > 0) || header.tokenCount <= 0) return undefined;
  return bytes / header.tokenCount;
}

function* validationInputs(data: TokenDataset, batchSize: number, maxWindows: number | undefined) {
  for (const batch of data.validationBatches(batchSize, { maxWindows })) yield tokenBatchInput(batch);
}

/**
 * The loss of `model` under `objective` over held-out data, averaged by weight (for language
 * modelling every target token counts equally), with perplexity, bits per byte and the
 * objective's metrics. `data` is a TokenDataset (its validation windows) or any iterable of
 * batches (device tensors in them stay the caller's). Runs in eval mode (no dropout) and without
 * gradients, restores the model's mode afterwards, and reads back once at the end.
 */
export async function evaluate<M extends Module = LanguageModel>(
  model: M,
  data: TokenDataset | Iterable<BatchInput>,
  options: EvaluateOptions<M> = {},
): Promise<EvalResult> {
  const { batchSize = 8, maxWindows, bytesPerToken: bpt } = options;
  const objective = options.objective ?? (languageModelObjective() as unknown as Objective<M>);
  const isDataset = data instanceof TokenDataset;
  if (!isDataset && (options.batchSize !== undefined || maxWindows !== undefined)) {
    throw new TypeError(
      'evaluate: batchSize and maxWindows apply to a TokenDataset; batches from an iterable are evaluated as they come',
    );
  }
  const batches = isDataset ? validationInputs(data, batchSize, maxWindows) : data;
  const backend = modelBackend(model);
  const wasTraining = model.training;
  const mean = new WeightedMean();
  model.eval();
  let tokens = 0;
  try {
    noGrad(() => {
      for (const input of batches) {
        // Each batch's activations are freed at once; the sums stay on the device.
        scope(() => {
          const out = checkObjectiveOutput(objective(model, uploadBatch(input, { backend })), 'evaluate');
          mean.add(out, 'evaluate');
        });
        tokens += batchTokens(input);
      }
    });
    if (mean.count === 0) {
      throw new RangeError(
        isDataset
          ? 'evaluate: the dataset has no validation windows'
          : 'evaluate: there are no batches to evaluate',
      );
    }
    const { loss, weight, metrics } = mean.result('evaluate');
    const names = Object.keys(metrics);
    const all = noGrad(() => scope(() => stack([loss, weight, ...names.map((n) => metrics[n])])));
    let host: ArrayLike<number>;
    try {
      host = await all.data();
    } finally {
      for (const t of [all, loss, weight, ...Object.values(metrics)]) t.dispose();
    }
    if (host[1] === 0) {
      throw new RangeError(
        'evaluate: the batches have a total weight of 0 (every target is ignored), so there is no loss to average',
      );
    }
    const result: EvalResult = {
      loss: host[0],
      perplexity: Math.exp(host[0]),
      tokens,
      weight: host[1],
      metrics: Object.fromEntries(names.map((n, i) => [n, host[2 + i]])),
    };
    if (bpt !== undefined) result.bitsPerByte = bitsPerByte(result.loss, bpt);
    return result;
  } finally {
    mean.dispose();
    model.train(wasTraining);
  }
}
