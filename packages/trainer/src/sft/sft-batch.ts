/**
 * Rows of tokenized sequences as a language-model batch: each row holds one or more sequences
 * side by side, then padding to the batch's width. Per token:
 *
 * ```text
 * ids        a0 a1 a2 b0 b1 0  0      the sequences, then padId
 * targets    t  t  t  t  t  -100 -100 each sequence's own next-token targets, −100 at pads
 * segments   0  0  0  1  1  -1 -1     the sequence's index in its row, −1 at pads
 * positions  0  1  2  0  1  0  0      restarting at each sequence
 * padding    0  0  0  0  0  1  1      pads only at the end of the row
 * ```
 *
 * Attention uses `segments` and `padding` (a document sees only itself) and the position
 * embedding uses `positions`, so a sequence computes the same in a packed row as alone; its
 * targets were shifted inside the sequence, so no target crosses into the next one.
 */
import {
  type BatchInput,
  type HostTensor,
  IGNORE_INDEX,
  isHostTensor,
  type LanguageModelBatch,
} from '../data/batch.js';
import type { TokenizedChat } from './tokenize-chats.js';

/** Sequences of one row, in order. */
export type PackedRow = readonly Pick<TokenizedChat, 'ids' | 'targets'>[];

/** The batch of `rows`, each padded at its end to `width` tokens (see the file comment). */
export function assembleRows(
  rows: readonly PackedRow[],
  width: number,
  padId = 0,
): Required<LanguageModelBatch<HostTensor>> {
  const B = rows.length;
  const ids = new Int32Array(B * width).fill(padId);
  const targets = new Int32Array(B * width).fill(IGNORE_INDEX);
  const segments = new Int32Array(B * width).fill(-1);
  const positions = new Int32Array(B * width);
  const padding = new Uint8Array(B * width).fill(1);
  rows.forEach((row, b) => {
    let at = b * width;
    const end = at + width;
    row.forEach((seq, s) => {
      const n = seq.ids.length;
      if (at + n > end) {
        throw new RangeError(`assembleRows: row ${b} holds more than ${width} tokens`);
      }
      ids.set(seq.ids, at);
      targets.set(seq.targets, at);
      segments.fill(s, at, at + n);
      for (let t = 0; t < n; t++) positions[at + t] = t;
      padding.fill(0, at, at + n);
      at += n;
    });
  });
  const shape = [B, width];
  return {
    ids: { data: ids, shape, dtype: 'int32' },
    targets: { data: targets, shape, dtype: 'int32' },
    segments: { data: segments, shape, dtype: 'int32' },
    positions: { data: positions, shape, dtype: 'int32' },
    padding: { data: padding, shape, dtype: 'bool' },
  };
}

/**
 * Tokens of a batch that are not padding: the elements of `ids` minus the true entries of a
 * host `padding` (all of `ids` when there is none, or it is a device tensor). Pass it as the
 * Trainer's `countTokens` so tokens/s counts real tokens, not pads.
 */
export function nonPaddingTokens(batch: BatchInput): number {
  const ids = batch.ids;
  if (ids === undefined) return 0;
  let total = 1;
  for (const d of ids.shape) total *= d;
  const padding = batch.padding;
  if (!isHostTensor(padding)) return total;
  let pads = 0;
  for (const v of padding.data) if (v !== 0) pads++;
  return total - pads;
}
