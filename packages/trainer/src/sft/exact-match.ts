/**
 * Task accuracy of an assistant: generate an answer for each prompt (batched, through a
 * generator the caller supplies, e.g. greedy decoding of a model) and count the answers that
 * equal the reference after a normalisation that forgives formatting but not content.
 */

/**
 * The default answer normalisation, applied to both the output and the reference:
 *
 * 1. Unicode NFKC (full-width digits and compatibility forms become their plain forms);
 * 2. lower case;
 * 3. every run of whitespace (spaces, tabs, newlines) becomes one space, and the ends are trimmed;
 * 4. trailing sentence punctuation `. , ! ? ; :` is removed (with any whitespace before it).
 *
 * So `"  Paris.\n"` and `"paris"` match, `"4 2"` and `"42"` do not, nor do `"3.5"` and `"35"`.
 */
export function normalizeAnswer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .trim()
    .replace(/[\s.,!?;:]+$/u, '');
}

/** One generator output: text, or token ids (then `decode` turns them into text). */
export type GeneratedAnswer = string | readonly number[];

/** Options of {@link exactMatchAccuracy}; `P` is what a prompt is (token ids or text), as `generate` takes it. */
export interface ExactMatchOptions<P> {
  /** The prompts (e.g. `generationPrompts(...).prompts`, token ids). */
  prompts: readonly P[];
  /** The reference answer of each prompt. */
  references: readonly string[];
  /**
   * Generates the answers of a batch of prompts, one per prompt in order: only the continuation
   * (not the prompt). With a batched greedy generator:
   * `generate: (batch) => generateBatch(model, batch, { maxTokens: 32, stopTokens: [imEnd] })`.
   */
  generate: (prompts: P[]) => Promise<readonly GeneratedAnswer[]> | readonly GeneratedAnswer[];
  /** Token ids → text, needed when `generate` returns ids (e.g. `(ids) => tokenizer.decode(ids)`). */
  decode?: (ids: readonly number[]) => string;
  /** Token ids that end an answer: an output of ids is cut before the first of them (the end-of-turn marker). */
  stopTokens?: readonly number[];
  /** Maps an answer to the form compared (default {@link normalizeAnswer}); `false` compares the text as it is. */
  normalize?: ((text: string) => string) | false;
  /** Prompts per `generate` call (default 16). */
  batchSize?: number;
}

/** The outcome for one prompt. */
export interface ExactMatchRecord<P> {
  /** Index of the prompt. */
  index: number;
  prompt: P;
  reference: string;
  /** The generated answer as text (cut at the first stop token). */
  output: string;
  /** What was compared: the normalised output and reference. */
  normalizedOutput: string;
  normalizedReference: string;
  /** Whether they are equal. */
  correct: boolean;
}

/** What {@link exactMatchAccuracy} returns. */
export interface ExactMatchResult<P> {
  /** `correct / total`. */
  accuracy: number;
  correct: number;
  total: number;
  /** One record per prompt, in order. */
  records: ExactMatchRecord<P>[];
}

function answerText(answer: GeneratedAnswer, options: ExactMatchOptions<unknown>, index: number): string {
  if (typeof answer === 'string') return answer;
  if (!Array.isArray(answer) && !ArrayBuffer.isView(answer)) {
    throw new TypeError(
      `exactMatchAccuracy: generate's answer ${index} must be a string or token ids, got ${typeof answer}`,
    );
  }
  if (!options.decode) {
    throw new TypeError(
      'exactMatchAccuracy: generate returned token ids; pass decode (e.g. (ids) => tokenizer.decode(ids))',
    );
  }
  const stops = new Set(options.stopTokens ?? []);
  const ids = Array.from(answer as ArrayLike<number>);
  const end = ids.findIndex((id) => stops.has(id));
  return options.decode(end < 0 ? ids : ids.slice(0, end));
}

/**
 * Exact-match accuracy of generated answers (see the file comment and {@link normalizeAnswer}),
 * calling `generate` on batches of `batchSize` prompts in order, one call at a time.
 *
 * ```ts
 * const { prompts, references } = generationPrompts(heldOut, tokenizer, { template: 'chatml' });
 * const { accuracy, records } = await exactMatchAccuracy({
 *   prompts, references, decode: (ids) => tokenizer.decode(ids), stopTokens: [imEnd],
 *   generate: (batch) => generateBatch(model, batch, { maxTokens: 16, stopTokens: [imEnd] }),
 * });
 * ```
 */
export async function exactMatchAccuracy<P>(options: ExactMatchOptions<P>): Promise<ExactMatchResult<P>> {
  const { prompts, references, generate, normalize = normalizeAnswer, batchSize = 16 } = options;
  if (!Array.isArray(prompts) || !Array.isArray(references) || prompts.length !== references.length) {
    throw new RangeError(
      `exactMatchAccuracy: prompts and references must be arrays of the same length, got ${prompts?.length} and ${references?.length}`,
    );
  }
  if (prompts.length === 0) throw new RangeError('exactMatchAccuracy: there are no prompts to evaluate');
  if (typeof generate !== 'function') {
    throw new TypeError('exactMatchAccuracy: generate must be a function (prompts) → answers');
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`exactMatchAccuracy: batchSize must be a positive integer, got ${batchSize}`);
  }
  const norm = normalize === false ? (text: string) => text : normalize;
  const records: ExactMatchRecord<P>[] = [];
  for (let first = 0; first < prompts.length; first += batchSize) {
    const batch = prompts.slice(first, first + batchSize);
    const answers = await generate(batch);
    if (!Array.isArray(answers) || answers.length !== batch.length) {
      throw new RangeError(
        `exactMatchAccuracy: generate returned ${Array.isArray(answers) ? answers.length : typeof answers} answers for ${batch.length} prompts; return one per prompt, in order`,
      );
    }
    answers.forEach((answer, i) => {
      const index = first + i;
      const output = answerText(answer, options as ExactMatchOptions<unknown>, index);
      const normalizedOutput = norm(output);
      const normalizedReference = norm(references[index]);
      records.push({
        index,
        prompt: prompts[index],
        reference: references[index],
        output,
        normalizedOutput,
        normalizedReference,
        correct: normalizedOutput === normalizedReference,
      });
    });
  }
  const correct = records.filter((r) => r.correct).length;
  return { accuracy: correct / records.length, correct, total: records.length, records };
}
