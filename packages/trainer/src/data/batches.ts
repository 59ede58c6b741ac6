/**
 * Language-model batches from a flat token array.
 *
 * The last `validationFraction` of the tokens is held out for validation; training windows never
 * reach into it. A window is `contextLength + 1` consecutive tokens: the first `contextLength`
 * are the inputs and the last `contextLength` (shifted by one) are the targets, so position `t`
 * learns to predict token `t + 1`.
 *
 * A `TokenDataset` is a {@link BatchSource}: `next()` draws `batchSize` random training windows
 * from its own seeded {@link WindowSampler}, and `state()`/`restore()` are the sampler's state.
 */
import { TRAIN_DEFAULTS } from '../train-config.js';
import { type BatchSource, type HostTensor, type LanguageModelBatch, tokenBatchInput } from './batch.js';
import type { JsonValue } from './token-format.js';
import { WindowSampler, type WindowSamplerState } from './window-sampler.js';

/** Options for {@link TokenDataset}. */
export interface TokenDatasetOptions {
  /** Tokens per training example (the model's context length). */
  contextLength: number;
  /** Fraction of the tokens, taken from the end, held out for validation (default 0.1; 0 disables validation). */
  validationFraction?: number;
  /**
   * Windows per batch that `next()` draws (default: the Trainer's, `TRAIN_DEFAULTS.batchSize`).
   * A `Trainer` given the dataset draws with its config's `batchSize`; when set, the two must agree.
   */
  batchSize?: number;
  /**
   * Seed of the sampler that `next()` draws from (default: the Trainer's, `TRAIN_DEFAULTS.seed`).
   * A `Trainer` given the dataset draws with its config's `seed`; when set, the two must agree.
   */
  seed?: number;
}

/** Reads a {@link WindowSamplerState} from JSON, with an error naming `who` when it is not one. */
export function parseWindowSamplerState(state: unknown, who: string): WindowSamplerState {
  const s = state as WindowSamplerState;
  if (typeof s !== 'object' || s === null || Array.isArray(s) || !('seed' in s) || !('counter' in s)) {
    throw new TypeError(
      `${who}: expected a sampler state { seed, counter } from state(), got ${JSON.stringify(state)}`,
    );
  }
  new WindowSampler(s); // validates both numbers
  return { seed: s.seed, counter: s.counter };
}

/** A batch of windows as host arrays of shape `[batchSize, contextLength]`, row-major. */
export interface TokenBatch {
  /** Input token ids. */
  inputs: Int32Array;
  /** Target token ids: `targets[b, t]` is the token after `inputs[b, t]`. */
  targets: Int32Array;
  /** Number of windows (rows). */
  batchSize: number;
  /** Tokens per window (columns). */
  contextLength: number;
}

/** Token arrays a dataset accepts: what `readTokenFile` returns, or any array of ids. */
export type TokenArray = Uint16Array | Uint32Array | Int32Array | readonly number[];

const MAX_TOKEN_ID = 2 ** 31 - 1;

/** Checks that every token can be returned in an Int32Array; uint16 arrays always can. */
function checkTokenIds(tokens: TokenArray): void {
  if (tokens instanceof Uint16Array) return;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t > MAX_TOKEN_ID) {
      throw new RangeError(
        `TokenDataset: token ${t} at index ${i} is not an id in [0, 2^31); the token array is corrupt`,
      );
    }
  }
}

function checkBatchSize(batchSize: number, where: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${where}: batchSize must be a positive integer, got ${batchSize}`);
  }
}

/**
 * A token array split into a training part (random windows) and a held-out validation part
 * (sequential windows). Returns host `Int32Array`s; see `batchToTensors` to upload them.
 */
export class TokenDataset implements BatchSource<LanguageModelBatch<HostTensor>> {
  /** Tokens per window's inputs. */
  readonly contextLength: number;
  /** Windows per batch drawn by `next()`. */
  readonly batchSize: number;
  /** The sampler `next()` draws from (seeded with the `seed` option). */
  readonly sampler: WindowSampler;
  /** The `batchSize` and `seed` options as given (undefined when defaulted): a Trainer checks them against its config. */
  readonly samplingOptions: { readonly batchSize?: number; readonly seed?: number };
  /** Tokens in the training split: `[0, trainTokens)`. */
  readonly trainTokens: number;
  /** Tokens in the validation split: `[trainTokens, trainTokens + validationTokens)`. */
  readonly validationTokens: number;
  readonly #tokens: TokenArray;

  /** Splits `tokens` (not copied: do not modify them while the dataset is in use) and checks both parts can hold a window. */
  constructor(tokens: TokenArray, options: TokenDatasetOptions) {
    const { contextLength, validationFraction = 0.1, batchSize, seed } = options;
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new RangeError(`TokenDataset: contextLength must be a positive integer, got ${contextLength}`);
    }
    if (!(validationFraction >= 0 && validationFraction < 1)) {
      throw new RangeError(`TokenDataset: validationFraction must be in [0, 1), got ${validationFraction}`);
    }
    if (batchSize !== undefined) checkBatchSize(batchSize, 'TokenDataset');
    if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) {
      throw new RangeError(`TokenDataset: seed must be a non-negative safe integer, got ${seed}`);
    }
    checkTokenIds(tokens);
    const validationTokens = Math.floor(tokens.length * validationFraction);
    const trainTokens = tokens.length - validationTokens;
    const windowTokens = contextLength + 1;
    if (trainTokens < windowTokens) {
      throw new RangeError(
        `TokenDataset: the training split has ${trainTokens} tokens, fewer than one window of contextLength + 1 = ${windowTokens}; use more data or a shorter context`,
      );
    }
    if (validationFraction > 0 && validationTokens < windowTokens) {
      throw new RangeError(
        `TokenDataset: the validation split has ${validationTokens} tokens (${validationFraction} of ${tokens.length}), fewer than one window of ${windowTokens}; raise validationFraction, use more data, or pass validationFraction: 0`,
      );
    }
    this.contextLength = contextLength;
    this.batchSize = batchSize ?? TRAIN_DEFAULTS.batchSize;
    this.sampler = new WindowSampler(seed ?? TRAIN_DEFAULTS.seed);
    this.samplingOptions = { batchSize, seed };
    this.trainTokens = trainTokens;
    this.validationTokens = validationTokens;
    this.#tokens = tokens;
  }

  /** Number of distinct training window start positions. */
  get trainWindowStarts(): number {
    return this.trainTokens - this.contextLength;
  }

  /** Number of non-overlapping validation windows (each window's inputs start `contextLength` after the previous one's). */
  get validationWindows(): number {
    return this.validationTokens === 0 ? 0 : Math.floor((this.validationTokens - 1) / this.contextLength);
  }

  /** The next `batchSize` random training windows from the dataset's own sampler: `{ ids, targets }`, int32 `[B, T]`. */
  next(): LanguageModelBatch<HostTensor> {
    return tokenBatchInput(this.sampleTrainBatch(this.batchSize, this.sampler));
  }

  /** The sampler's state `{ seed, counter }`. */
  state(): JsonValue {
    return { ...this.sampler.state() };
  }

  /** Continues from a `state()`: the next draws are those an uninterrupted run would make. */
  restore(state: JsonValue): void {
    this.sampler.setState(parseWindowSamplerState(state, 'TokenDataset.restore'));
  }

  /**
   * A batch of `batchSize` training windows at uniformly random offsets drawn from `sampler`
   * (one draw per window, in row order). Deterministic given the sampler state.
   */
  sampleTrainBatch(batchSize: number, sampler: WindowSampler): TokenBatch {
    checkBatchSize(batchSize, 'TokenDataset.sampleTrainBatch');
    const starts: number[] = [];
    for (let b = 0; b < batchSize; b++) starts.push(sampler.nextInt(this.trainWindowStarts));
    return this.batchAt(starts);
  }

  /**
   * Sequential validation batches covering the validation split once. The last batch may be
   * smaller. `maxWindows` caps how many windows are evaluated (the first ones, so the subset is
   * the same every evaluation).
   */
  *validationBatches(batchSize: number, options: { maxWindows?: number } = {}): Generator<TokenBatch> {
    checkBatchSize(batchSize, 'TokenDataset.validationBatches');
    if (this.validationTokens === 0) {
      throw new RangeError(
        'TokenDataset.validationBatches: there is no validation split; create the dataset with validationFraction > 0',
      );
    }
    const total = Math.min(this.validationWindows, options.maxWindows ?? Number.POSITIVE_INFINITY);
    for (let first = 0; first < total; first += batchSize) {
      const starts: number[] = [];
      for (let w = first; w < Math.min(first + batchSize, total); w++)
        starts.push(this.trainTokens + w * this.contextLength);
      yield this.batchAt(starts);
    }
  }

  /** The batch whose row `b` is the window starting at token index `starts[b]`. */
  batchAt(starts: readonly number[]): TokenBatch {
    const ctx = this.contextLength;
    const inputs = new Int32Array(starts.length * ctx);
    const targets = new Int32Array(starts.length * ctx);
    const tokens = this.#tokens;
    starts.forEach((start, row) => {
      if (!Number.isInteger(start) || start < 0 || start + ctx + 1 > tokens.length) {
        throw new RangeError(
          `TokenDataset.batchAt: window start ${start} is out of range for ${tokens.length} tokens`,
        );
      }
      if (ArrayBuffer.isView(tokens)) {
        inputs.set(tokens.subarray(start, start + ctx), row * ctx);
        targets.set(tokens.subarray(start + 1, start + ctx + 1), row * ctx);
      } else {
        for (let t = 0; t < ctx; t++) {
          inputs[row * ctx + t] = tokens[start + t];
          targets[row * ctx + t] = tokens[start + t + 1];
        }
      }
    });
    return { inputs, targets, batchSize: starts.length, contextLength: ctx };
  }
}
