/**
 * `SFTDataset`: tokenized conversations as a resumable {@link BatchSource} of language-model
 * batches (`ids`, `targets`, `segments`, `positions`, `padding`; see sft-batch.ts).
 *
 * Sequences are first grouped into rows, once:
 * - `'best-fit'` (default): packed by best fit decreasing into rows of `contextLength` tokens,
 *   several conversations per row, attention kept inside each (see pack.ts);
 * - `'pad-to-longest'`: one conversation per row, each batch as wide as its longest row;
 * - `'pad-to-context'`: one conversation per row, every batch `contextLength` wide.
 *
 * The training stream visits the rows epoch after epoch, each epoch in a seeded shuffled order
 * (or in order without `shuffle`), `batchSize` rows per `next()`; a batch that reaches the end
 * of an epoch continues with the next one, so every batch has `batchSize` rows. The position in
 * the stream is `{ epoch, offset }`, which is the whole of `state()`. `batches()` is one pass in
 * a fixed order for evaluation.
 */
import { type BatchSource, type HostTensor, IGNORE_INDEX, type LanguageModelBatch } from '../data/batch.js';
import type { JsonValue } from '../data/token-format.js';
import { epochOrder } from './epoch-order.js';
import { packBestFitDecreasing } from './pack.js';
import { assembleRows } from './sft-batch.js';
import type { TokenizedChat } from './tokenize-chats.js';

/** A sequence to train on: int32 `ids` and next-token `targets` of the same length (a {@link TokenizedChat} is one). */
export type SFTSequence = Pick<TokenizedChat, 'ids' | 'targets'>;

/** How sequences are laid out in rows (see the file comment). */
export type SFTPacking = 'best-fit' | 'pad-to-longest' | 'pad-to-context';

const PACKINGS: readonly SFTPacking[] = ['best-fit', 'pad-to-longest', 'pad-to-context'];

/** Options of {@link SFTDataset}. */
export interface SFTDatasetOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Tokens per row at most: the model's context length (every sequence must fit). */
  contextLength: number;
  /** How sequences are laid out in rows (default `'best-fit'`). */
  packing?: SFTPacking;
  /** Visit the rows in a new seeded order each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0). */
  seed?: number;
  /** Token id written at padding (default 0; it is never attended to nor trained on). */
  padId?: number;
}

/** Sizes of an {@link SFTDataset}, for reports: what one epoch of `next()` processes. */
export interface SFTDatasetStats {
  /** Sequences (conversations). */
  sequences: number;
  /** Rows per epoch. */
  rows: number;
  /** Batches per epoch (the last one may take rows from the next epoch). */
  batchesPerEpoch: number;
  /** Real (non-padding) tokens per epoch. */
  tokens: number;
  /** Trained targets per epoch. */
  trainedTokens: number;
  /** Token slots of the epoch's batches: rows × their batch's width. */
  slots: number;
  /** Padding slots per epoch: `slots − tokens`. */
  paddingTokens: number;
  /** `paddingTokens / slots`. For `'pad-to-longest'`, of the first epoch's batches (the width depends on which rows share a batch). */
  paddingFraction: number;
}

/** The JSON state of an {@link SFTDataset}. */
interface SFTDatasetState {
  kind: 'sft-dataset';
  seed: number;
  epoch: number;
  offset: number;
  rows: number;
  tokens: number;
  packing: SFTPacking;
}

function checkInteger(value: unknown, name: string, min: number): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new RangeError(`SFTDataset: ${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/** Fine-tuning batches from tokenized conversations (see the file comment). */
export class SFTDataset implements BatchSource<LanguageModelBatch<HostTensor>> {
  /** Rows per batch. */
  readonly batchSize: number;
  /** Tokens per row at most. */
  readonly contextLength: number;
  /** How sequences are laid out in rows. */
  readonly packing: SFTPacking;
  /** Whether each epoch visits the rows in a shuffled order. */
  readonly shuffle: boolean;
  /** Seed of the shuffle. */
  readonly seed: number;
  /** The sequence indices of each row, in row order. */
  readonly rows: readonly (readonly number[])[];
  /** Sizes, for reports. */
  readonly stats: SFTDatasetStats;
  readonly #sequences: readonly SFTSequence[];
  readonly #padId: number;
  #epoch = 0;
  #offset = 0;
  #order: Int32Array;

  /** Groups `sequences` (or `tokenizeChats`'s result) into rows and checks everything fits. */
  constructor(
    sequences: readonly SFTSequence[] | { readonly sequences: readonly SFTSequence[] },
    options: SFTDatasetOptions,
  ) {
    const seqs: readonly SFTSequence[] = Array.isArray(sequences)
      ? sequences
      : (sequences as { readonly sequences: readonly SFTSequence[] }).sequences;
    const { batchSize, contextLength, packing = 'best-fit', shuffle = true, seed = 0, padId = 0 } = options;
    checkInteger(batchSize, 'batchSize', 1);
    checkInteger(contextLength, 'contextLength', 1);
    checkInteger(seed, 'seed', 0);
    checkInteger(padId, 'padId', 0);
    if (!PACKINGS.includes(packing)) {
      throw new RangeError(
        `SFTDataset: packing must be ${PACKINGS.map((p) => `'${p}'`).join(', ')}; got ${JSON.stringify(packing)}`,
      );
    }
    if (!Array.isArray(seqs) || seqs.length === 0) {
      throw new RangeError('SFTDataset: there are no sequences (tokenize examples with tokenizeChats first)');
    }
    let trainedTokens = 0;
    seqs.forEach((s, i) => {
      if (
        !(s?.ids instanceof Int32Array) ||
        !(s.targets instanceof Int32Array) ||
        s.ids.length !== s.targets.length
      ) {
        throw new TypeError(
          `SFTDataset: sequence ${i} must have int32 ids and targets of the same length (from tokenizeChats)`,
        );
      }
      if (s.ids.length === 0 || s.ids.length > contextLength) {
        throw new RangeError(
          `SFTDataset: sequence ${i} has ${s.ids.length} tokens; each must have 1 to contextLength = ${contextLength} (tokenize with maxLength ≤ ${contextLength})`,
        );
      }
      for (const t of s.targets) if (t !== IGNORE_INDEX) trainedTokens++;
    });
    if (trainedTokens === 0) {
      throw new RangeError(
        'SFTDataset: every target of every sequence is masked (-100), so there is nothing to train on (the loss would be NaN); check the chat template and maxLength',
      );
    }
    this.batchSize = batchSize;
    this.contextLength = contextLength;
    this.packing = packing;
    this.shuffle = shuffle;
    this.seed = seed;
    this.#sequences = seqs;
    this.#padId = padId;
    this.rows =
      packing === 'best-fit'
        ? packBestFitDecreasing(
            seqs.map((s) => s.ids.length),
            contextLength,
          )
        : seqs.map((_, i) => [i]);
    this.#order = epochOrder(this.rows.length, 0, seed, shuffle);
    this.stats = this.#computeStats(trainedTokens);
  }

  /** Passes completed over the rows so far (fractional). */
  get epoch(): number {
    return this.#epoch + this.#offset / this.rows.length;
  }

  /** The next `batchSize` rows of the training stream (see the file comment). */
  next(): Required<LanguageModelBatch<HostTensor>> {
    const picked: number[] = [];
    for (let b = 0; b < this.batchSize; b++) {
      picked.push(this.#order[this.#offset]);
      this.#offset++;
      if (this.#offset === this.rows.length) {
        this.#epoch++;
        this.#offset = 0;
        this.#order = epochOrder(this.rows.length, this.#epoch, this.seed, this.shuffle);
      }
    }
    return this.#batch(picked);
  }

  /**
   * One pass over every row in row order (no shuffle, independent of the training stream),
   * `batchSize` rows per batch, the last batch smaller: for `evaluate` on held-out
   * conversations, or a Trainer's `validation: () => heldOut.batches()`.
   */
  *batches(): Generator<Required<LanguageModelBatch<HostTensor>>> {
    for (let first = 0; first < this.rows.length; first += this.batchSize) {
      const picked: number[] = [];
      for (let r = first; r < Math.min(first + this.batchSize, this.rows.length); r++) picked.push(r);
      yield this.#batch(picked);
    }
  }

  /** The position in the training stream, as JSON (with what it must be restored into). */
  state(): JsonValue {
    const state: SFTDatasetState = {
      kind: 'sft-dataset',
      seed: this.seed,
      epoch: this.#epoch,
      offset: this.#offset,
      rows: this.rows.length,
      tokens: this.stats.tokens,
      packing: this.packing,
    };
    return { ...state };
  }

  /** Continues from a `state()` of a dataset of the same data and options: the next batches are those an uninterrupted run would draw. */
  restore(state: JsonValue): void {
    const s = state as Partial<SFTDatasetState> | null;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s.kind !== 'sft-dataset') {
      throw new TypeError(
        `SFTDataset.restore: expected a state from SFTDataset.state(), got ${JSON.stringify(state)}`,
      );
    }
    const mismatch = (what: string, saved: unknown, here: unknown) =>
      new RangeError(
        `SFTDataset.restore: the state was saved with ${what} ${JSON.stringify(saved)}, this dataset has ${JSON.stringify(here)}; build it from the same data with the same options`,
      );
    if (s.packing !== this.packing) throw mismatch('packing', s.packing, this.packing);
    if (s.seed !== this.seed) throw mismatch('seed', s.seed, this.seed);
    if (s.rows !== this.rows.length) throw mismatch('rows', s.rows, this.rows.length);
    if (s.tokens !== this.stats.tokens) throw mismatch('tokens', s.tokens, this.stats.tokens);
    if (
      !Number.isSafeInteger(s.epoch) ||
      s.epoch! < 0 ||
      !Number.isSafeInteger(s.offset) ||
      s.offset! < 0 ||
      s.offset! >= this.rows.length
    ) {
      throw new RangeError(
        `SFTDataset.restore: epoch ${s.epoch} and offset ${s.offset} are not a position in ${this.rows.length} rows`,
      );
    }
    this.#epoch = s.epoch!;
    this.#offset = s.offset!;
    this.#order = epochOrder(this.rows.length, this.#epoch, this.seed, this.shuffle);
  }

  #rowLength(row: number): number {
    let n = 0;
    for (const i of this.rows[row]) n += this.#sequences[i].ids.length;
    return n;
  }

  #width(picked: readonly number[]): number {
    if (this.packing !== 'pad-to-longest') return this.contextLength;
    let width = 1;
    for (const r of picked) width = Math.max(width, this.#rowLength(r));
    return width;
  }

  #batch(picked: readonly number[]): Required<LanguageModelBatch<HostTensor>> {
    const rows = picked.map((r) => this.rows[r].map((i) => this.#sequences[i]));
    return assembleRows(rows, this.#width(picked), this.#padId);
  }

  #computeStats(trainedTokens: number): SFTDatasetStats {
    const count = this.rows.length;
    let tokens = 0;
    for (let r = 0; r < count; r++) tokens += this.#rowLength(r);
    let slots = 0;
    for (let first = 0; first < count; first += this.batchSize) {
      const picked = Array.from(this.#order.subarray(first, Math.min(first + this.batchSize, count)));
      slots += picked.length * this.#width(picked);
    }
    return {
      sequences: this.#sequences.length,
      rows: count,
      batchesPerEpoch: Math.ceil(count / this.batchSize),
      tokens,
      trainedTokens,
      slots,
      paddingTokens: slots - tokens,
      paddingFraction: (slots - tokens) / slots,
    };
  }
}
