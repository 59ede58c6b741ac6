/**
 * Validation metrics: mean loss over the held-out tokens, perplexity, and bits per byte.
 *
 * Loss per token depends on the tokenizer (a bigger vocabulary packs more text into each
 * token), so runs with different tokenizers are compared in bits per byte: the loss in bits
 * divided by the average bytes of text per token, which the token file's metadata records.
 */
import { noGrad } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import { batchToTensors } from './data/batch-tensors.js';
import type { TokenDataset } from './data/batches.js';
import type { TokenFileHeader } from './data/token-format.js';
import { forwardLoss, type LanguageModel, modelBackend } from './language-model.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Windows per forward pass (default 8). */
  batchSize?: number;
  /** Evaluate only the first this many validation windows (default: all), the same ones every time. */
  maxWindows?: number;
  /** Average UTF-8 bytes of text per token, for bits per byte (see {@link bytesPerToken}). */
  bytesPerToken?: number;
}

/** Validation results. */
export interface EvalResult {
  /** Mean cross-entropy per target token, in nats. */
  loss: number;
  /** `exp(loss)`: the effective number of equally likely next tokens. */
  perplexity: number;
  /** `loss / ln 2 / bytesPerToken`, when `bytesPerToken` was given. */
  bitsPerByte?: number;
  /** Target tokens evaluated. */
  tokens: number;
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

/**
 * Mean validation loss of `model` over the dataset's validation windows (every target token
 * weighted equally), with perplexity and bits per byte. Runs in eval mode (no dropout) and
 * without gradients, restores the model's mode afterwards, and reads back one number at the end.
 */
export async function evaluate(
  model: LanguageModel,
  data: TokenDataset,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const { batchSize = 8, maxWindows, bytesPerToken: bpt } = options;
  const backend = modelBackend(model);
  const wasTraining = model.training;
  model.eval();
  let total: Tensor | undefined;
  let tokens = 0;
  try {
    noGrad(() => {
      for (const batch of data.validationBatches(batchSize, { maxWindows })) {
        const count = batch.batchSize * batch.contextLength;
        // Sum of per-token losses so far, kept on the device; each batch's activations are freed at once.
        const next = scope(() => {
          const { inputs, targets } = batchToTensors(batch, { backend });
          const weighted = forwardLoss(model, inputs, targets).mul(count);
          return total ? total.add(weighted) : weighted;
        });
        total?.dispose();
        total = next;
        tokens += count;
      }
    });
    if (!total || tokens === 0) throw new RangeError('evaluate: the dataset has no validation windows');
    const loss = (await total.item()) / tokens;
    const result: EvalResult = { loss, perplexity: Math.exp(loss), tokens };
    if (bpt !== undefined) result.bitsPerByte = bitsPerByte(loss, bpt);
    return result;
  } finally {
    total?.dispose();
    model.train(wasTraining);
  }
}
