/**
 * Token ids checked where the user passed them. An id outside the vocabulary would otherwise
 * fail deep inside an op (`indexSelect: index 40 is out of range`), which names neither the
 * call, nor where the id sits, nor the usual cause: a tokenizer that does not match the model
 * (a tokenizer with more tokens than the model's `vocabSize`, or one model's ids fed to
 * another). These checks name all three. Ids uploaded from the host are checked without a
 * readback (the upload remembered their range); ids computed on the device (sampling) are in
 * range by construction and left to the ops' own checks.
 */
import type { Tensor } from '@kiln/tensor';
import { hostOutOfRange } from '@kiln/tensor/internal';

/** The usual cause of an id outside the vocabulary, said once for every check here. */
export const TOKENIZER_MISMATCH_HINT =
  "The usual cause is a tokenizer that does not match the model: check that the tokenizer's vocabulary (special tokens included) fits the model's vocabSize, and that the ids were made by this model's tokenizer.";

function vocabularyError(
  who: string,
  where: string,
  value: number,
  vocabSize: number,
  extra = '',
): RangeError {
  return new RangeError(
    `${who}: ${where} = ${value} is not a token id in [0, ${vocabSize}) (the model's vocabSize is ${vocabSize}${extra}). ${TOKENIZER_MISMATCH_HINT}`,
  );
}

/**
 * Throws a `RangeError` naming `who`, `what[position]`, the value and `vocabSize` when an int32
 * id tensor from the host holds an id outside `[0, vocabSize)` (`ignoreIndex` allowed, for targets).
 */
export function checkTokenTensor(
  who: string,
  what: string,
  ids: Tensor,
  vocabSize: number,
  ignoreIndex?: number,
): void {
  const bad = hostOutOfRange(ids, vocabSize, ignoreIndex);
  if (!bad) return;
  const where = bad.position ? `${what}[${bad.position.join(', ')}]` : `an entry of ${what}`;
  const extra = ignoreIndex === undefined ? '' : `; ${what} may also hold the ignore index ${ignoreIndex}`;
  throw vocabularyError(who, where, bad.value, vocabSize, extra);
}

/** Throws a `RangeError` naming `who`, `what[i]`, the value and `vocabSize` for an entry of `ids` that is not an integer in `[0, vocabSize)`. */
export function checkTokenArray(who: string, what: string, ids: readonly number[], vocabSize: number): void {
  if (!Array.isArray(ids)) throw new TypeError(`${who}: ${what} must be an array of token ids`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw vocabularyError(who, `${what}[${i}]`, id, vocabSize);
  }
}

/** Throws a `RangeError` when host ids index past a lookup table of `rows` rows (an `Embedding` outside a model). */
export function checkTableIds(who: string, ids: Tensor, rows: number): void {
  const bad = hostOutOfRange(ids, rows);
  if (!bad) return;
  const where = bad.position ? `ids[${bad.position.join(', ')}]` : 'an entry of ids';
  throw new RangeError(
    `${who}: ${where} = ${bad.value} is outside the table of ${rows} rows (ids must be in [0, ${rows}))`,
  );
}
