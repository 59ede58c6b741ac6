// Preference pairs: `{"prompt", "chosen", "rejected"}` or `{"chosen": messages, "rejected":
// messages}` JSONL (TRL's two formats), checked line by line, tokenized into prompt + answer
// rows, and served as a BatchSource with exact resume.
import type { BatchSource, HostTensor } from '@kiln/trainer';
import { PromptOrder } from './prompt-order.js';
import { rolloutRows } from './rollout.js';

/** One preference: the prompt and two answers, the first preferred. */
export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
}

/** A chat message of the conversational format. */
interface Message {
  role: string;
  content: string;
}

/** Thrown for a bad preference line or pair; the message names the source and the line. */
export class PreferenceError extends Error {
  override name = 'PreferenceError';
}

function isMessages(value: unknown): value is Message[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((m) => typeof m?.role === 'string' && typeof m?.content === 'string')
  );
}

/** The prompt (the user turns before the last assistant turn) and that turn's answer of a conversation. */
function splitConversation(
  messages: Message[],
  where: string,
  key: string,
): { prompt: string; answer: string } {
  const last = messages.at(-1)!;
  if (last.role !== 'assistant') {
    throw new PreferenceError(
      `${where}: '${key}' must end with an assistant message, it ends with '${last.role}'`,
    );
  }
  const prompt = messages
    .slice(0, -1)
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n');
  return { prompt, answer: last.content };
}

/**
 * Parses preference JSONL (blank lines skipped). Each line is `{"prompt", "chosen",
 * "rejected"}` with strings, or `{"chosen": [...messages], "rejected": [...messages]}` whose
 * conversations share everything but the last assistant turn. Throws a {@link PreferenceError}
 * naming `source` and the line for bad JSON, missing fields, differing prompts, and pairs
 * whose chosen and rejected answers are identical (they carry no preference).
 */
export function parsePreferenceJsonl(text: string, source = 'preferences'): PreferencePair[] {
  const pairs: PreferencePair[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${source}:${i + 1}`;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(line);
    } catch (error) {
      throw new PreferenceError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    let pair: PreferencePair;
    if (isMessages(json?.chosen) && isMessages(json?.rejected)) {
      const c = splitConversation(json.chosen, where, 'chosen');
      const r = splitConversation(json.rejected, where, 'rejected');
      const explicit = typeof json.prompt === 'string' ? json.prompt : undefined;
      if (explicit === undefined && c.prompt !== r.prompt) {
        throw new PreferenceError(
          `${where}: 'chosen' and 'rejected' have different prompts; a pair answers one prompt`,
        );
      }
      pair = { prompt: explicit ?? c.prompt, chosen: c.answer, rejected: r.answer };
    } else if (
      typeof json?.prompt === 'string' &&
      typeof json.chosen === 'string' &&
      typeof json.rejected === 'string'
    ) {
      pair = { prompt: json.prompt, chosen: json.chosen, rejected: json.rejected };
    } else {
      throw new PreferenceError(
        `${where}: expected {"prompt": string, "chosen": string, "rejected": string} or {"chosen": messages, "rejected": messages}`,
      );
    }
    checkPair(pair, where);
    pairs.push(pair);
  });
  return pairs;
}

/** Throws unless the pair has a preference (chosen ≠ rejected); `where` names it. */
export function checkPair(pair: PreferencePair, where: string): void {
  if (pair.chosen === pair.rejected) {
    throw new PreferenceError(
      `${where}: chosen and rejected are identical (${JSON.stringify(pair.chosen)}) for prompt ${JSON.stringify(pair.prompt)}; such a pair carries no preference, drop it`,
    );
  }
}

/** A tokenized pair: the prompt's ids and each answer's ids (with its end-of-turn token). */
export interface TokenizedPair {
  prompt: number[];
  chosen: number[];
  rejected: number[];
}

/** How to turn a pair into ids, and the length budget. */
export interface PreferenceTokenizeOptions {
  /** The prompt as the policy sees it (e.g. a ChatML generation prompt). */
  encodePrompt: (prompt: string) => number[];
  /** An answer's ids, with the end-of-turn token (so DPO learns where answers stop). */
  encodeAnswer: (answer: string) => number[];
  /** Most tokens of prompt + answer (the model's context). */
  maxLength: number;
}

/**
 * Tokenizes pairs. A pair whose prompt + longer answer exceeds `maxLength`, or whose answers
 * tokenize identically, is an error naming the pair's index and prompt (truncating would
 * compare answers that were never given).
 */
export function tokenizePreferencePairs(
  pairs: readonly PreferencePair[],
  options: PreferenceTokenizeOptions,
): TokenizedPair[] {
  return pairs.map((pair, i) => {
    const where = `pair ${i}`;
    checkPair(pair, where);
    const prompt = options.encodePrompt(pair.prompt);
    const chosen = options.encodeAnswer(pair.chosen);
    const rejected = options.encodeAnswer(pair.rejected);
    const longest = prompt.length + Math.max(chosen.length, rejected.length);
    if (longest > options.maxLength) {
      throw new PreferenceError(
        `${where} (prompt ${JSON.stringify(pair.prompt)}) has ${longest} tokens, more than the budget of ${options.maxLength}; shorten or drop it`,
      );
    }
    if (chosen.join() === rejected.join()) {
      throw new PreferenceError(
        `${where} (prompt ${JSON.stringify(pair.prompt)}): chosen and rejected tokenize identically`,
      );
    }
    return { prompt, chosen, rejected };
  });
}

/**
 * The rows of `pairs` for one forward pass: the N chosen rows, then the N rejected rows, each
 * prompt + answer, right-padded: `ids`, `mask` (1 on the answer), `padding`, `[2N, L]`.
 */
export function preferenceRows(
  pairs: readonly TokenizedPair[],
  padId = 0,
): { ids: HostTensor; mask: HostTensor; padding: HostTensor } {
  const prompts = pairs.map((p) => p.prompt);
  const { ids, mask, padding } = rolloutRows(
    [...prompts, ...prompts],
    [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)],
    padId,
  );
  return { ids, mask, padding };
}

/** Options of {@link PreferenceSource}. */
export interface PreferenceSourceOptions {
  /** Pairs per batch. */
  batchSize: number;
  /** Seed of the per-epoch shuffle. */
  seed?: number;
  /** Id of the padding. */
  padId?: number;
  /**
   * Per-pair extras in pair order (e.g. precomputed reference log-probabilities `refChosen`,
   * `refRejected`), sliced into each batch as float32 `[batchSize]`.
   */
  extras?: Record<string, Float32Array>;
}

/** A `BatchSource` of preference pairs in shuffled epochs: `ids`, `mask`, `padding` `[2B, L]` plus the extras `[B]`. */
export class PreferenceSource implements BatchSource {
  readonly #pairs: readonly TokenizedPair[];
  readonly #order: PromptOrder;
  readonly #options: PreferenceSourceOptions;
  #drawn = 0;

  constructor(pairs: readonly TokenizedPair[], options: PreferenceSourceOptions) {
    if (pairs.length === 0) throw new PreferenceError('PreferenceSource: there are no pairs');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(
        `PreferenceSource: batchSize must be a positive integer, got ${options.batchSize}`,
      );
    }
    for (const [name, values] of Object.entries(options.extras ?? {})) {
      if (values.length !== pairs.length) {
        throw new RangeError(
          `PreferenceSource: extra '${name}' has ${values.length} values for ${pairs.length} pairs`,
        );
      }
    }
    this.#pairs = pairs;
    this.#options = options;
    this.#order = new PromptOrder(pairs.length, options.seed ?? 0);
  }

  /** Passes over the pairs so far. */
  get epoch(): number {
    return this.#drawn / this.#pairs.length;
  }

  next(): Record<string, HostTensor> {
    const { batchSize, padId = 0, extras = {} } = this.#options;
    const chosen = this.#order.take(batchSize);
    this.#drawn += batchSize;
    const batch: Record<string, HostTensor> = preferenceRows(
      chosen.map((i) => this.#pairs[i]),
      padId,
    );
    for (const [name, values] of Object.entries(extras)) {
      batch[name] = {
        data: Float32Array.from(chosen, (i) => values[i]),
        shape: [batchSize],
        dtype: 'float32',
      };
    }
    return batch;
  }

  state(): { order: { epoch: number; at: number }; drawn: number } {
    return { order: this.#order.state(), drawn: this.#drawn };
  }

  restore(state: unknown): void {
    const s = state as ReturnType<PreferenceSource['state']>;
    if (typeof s?.drawn !== 'number' || typeof s.order?.at !== 'number') {
      throw new TypeError(`PreferenceSource.restore: not a state of this source: ${JSON.stringify(state)}`);
    }
    this.#order.restore(s.order);
    this.#drawn = s.drawn;
  }
}
