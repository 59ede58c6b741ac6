/**
 * `tokenizeChats`: examples → token sequences with next-token targets, trained only on what the
 * assistant says (see chat-layout.ts for the layout). Truncation is counted, never silent, and
 * data that leaves nothing to train on is an error before training starts, not a NaN loss
 * after it (the failure TRL users keep reporting: a template mismatch masks the whole dataset).
 */
import { IGNORE_INDEX } from '../data/batch.js';
import {
  type ChatExample,
  ChatExampleError,
  type CheckChatExampleOptions,
  checkChatExample,
} from './chat-example.js';
import {
  type ChatLayoutOptions,
  type ChatTokenizer,
  checkLayoutOptions,
  layOutExample,
} from './chat-layout.js';

/** Options of {@link tokenizeChats}. */
export interface TokenizeChatsOptions extends ChatLayoutOptions, CheckChatExampleOptions {
  /**
   * Tokens per sequence at most (at most the model's context length). Longer examples keep
   * their first `maxLength` tokens; how many were cut is reported in `truncated`.
   */
  maxLength: number;
}

/** One tokenized example. */
export interface TokenizedChat {
  /** int32 token ids, at most `maxLength`. */
  readonly ids: Int32Array;
  /**
   * int32 next-token targets, as long as `ids`: `targets[t] = ids[t + 1]` of the full
   * (untruncated) example when that token is trained (assistant content or end-of-turn), else
   * {@link IGNORE_INDEX}. The last target of a truncated sequence is the first token cut off,
   * when that one is trained.
   */
  readonly targets: Int32Array;
  /** Index of the example it came from. */
  readonly example: number;
  /** Targets that are not {@link IGNORE_INDEX}. */
  readonly trainedTokens: number;
  /** Whether the example was longer than `maxLength` and cut. */
  readonly truncated: boolean;
}

/** What {@link tokenizeChats} returns. */
export interface TokenizedChats {
  /** The sequences with at least one trained target, in example order. */
  sequences: TokenizedChat[];
  /** Examples longer than `maxLength`, cut to it (kept or dropped). */
  truncated: number;
  /** Tokens cut off by truncation, in all. */
  truncatedTokens: number;
  /** Examples dropped because no trained target was left (all cut off by truncation, or none trained by the template). */
  dropped: number;
  /** Indices of the dropped examples. */
  droppedExamples: number[];
  /** Tokens in `sequences`. */
  tokens: number;
  /** Trained targets in `sequences`. */
  trainedTokens: number;
}

/**
 * Next-token targets of `ids` under a trained-token mask: `targets[t] = ids[t + 1]` when
 * `mask[t + 1]` is 1, else {@link IGNORE_INDEX}; the last position has no next token. Position
 * `t` learns to predict token `t + 1`, so the first assistant token is the target of the token
 * before it (the end of the assistant's header), and the end-of-turn marker is the target of
 * the last content token.
 */
export function nextTokenTargets(ids: ArrayLike<number>, mask: ArrayLike<number>): Int32Array {
  if (mask.length !== ids.length) {
    throw new RangeError(`nextTokenTargets: the mask has ${mask.length} entries for ${ids.length} ids`);
  }
  const targets = new Int32Array(ids.length).fill(IGNORE_INDEX);
  for (let t = 0; t + 1 < ids.length; t++) if (mask[t + 1]) targets[t] = ids[t + 1];
  return targets;
}

function countTrained(targets: Int32Array): number {
  let n = 0;
  for (const t of targets) if (t !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Tokenizes fine-tuning examples (see the file comment and {@link TokenizedChat}): each example
 * is checked (as `parseChatJsonl` checks lines), laid out with the chat template, shifted into
 * next-token targets and cut to `maxLength`. Examples left with no trained target are dropped
 * and counted; when that is every example it throws, saying why.
 *
 * ```ts
 * const { sequences, truncated, dropped } = tokenizeChats(examples, tokenizer, { template: 'chatml', maxLength: 256 });
 * ```
 */
export function tokenizeChats(
  examples: readonly ChatExample[],
  tokenizer: ChatTokenizer,
  options: TokenizeChatsOptions,
): TokenizedChats {
  const { maxLength } = options;
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new RangeError(
      'tokenizeChats: there are no examples (parse a file with parseChatJsonl or readChatJsonl)',
    );
  }
  if (typeof tokenizer?.renderChat !== 'function' || typeof tokenizer.encodeOrdinary !== 'function') {
    throw new TypeError(
      "tokenizeChats: tokenizer must be a Tokenizer from '@kiln/tokenizer' (with renderChat and encodeOrdinary)",
    );
  }
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new RangeError(
      `tokenizeChats: maxLength must be an integer ≥ 2 (tokens per sequence, at most the model's context length), got ${maxLength}`,
    );
  }
  checkLayoutOptions(options, 'tokenizeChats');
  const result: TokenizedChats = {
    sequences: [],
    truncated: 0,
    truncatedTokens: 0,
    dropped: 0,
    droppedExamples: [],
    tokens: 0,
    trainedTokens: 0,
  };
  let droppedByTruncation = 0;
  examples.forEach((raw, index) => {
    let example: ChatExample;
    try {
      example = checkChatExample(raw, options);
    } catch (error) {
      if (error instanceof ChatExampleError)
        throw new ChatExampleError(`tokenizeChats: example ${index}: ${error.message}`);
      throw error;
    }
    const { ids, mask } = layOutExample(example, tokenizer, options, 'tokenizeChats');
    const full = nextTokenTargets(ids, mask);
    const truncated = ids.length > maxLength;
    const length = Math.min(ids.length, maxLength);
    const targets = full.slice(0, length);
    const trainedTokens = countTrained(targets);
    if (truncated) {
      result.truncated++;
      result.truncatedTokens += ids.length - length;
    }
    if (trainedTokens === 0) {
      result.dropped++;
      result.droppedExamples.push(index);
      if (truncated && countTrained(full) > 0) droppedByTruncation++;
      return;
    }
    result.sequences.push({
      ids: Int32Array.from(ids.slice(0, length)),
      targets,
      example: index,
      trainedTokens,
      truncated,
    });
    result.tokens += length;
    result.trainedTokens += trainedTokens;
  });
  if (result.sequences.length === 0) {
    const why =
      droppedByTruncation === examples.length
        ? `every example's trained tokens lie beyond maxLength ${maxLength} (the prompts are longer than that); raise maxLength or shorten the prompts`
        : droppedByTruncation > 0
          ? `${droppedByTruncation} lost their trained tokens to truncation at maxLength ${maxLength}, and the others have none: check that the template trains the role your answers have (trainedRoles, default ['assistant'])`
          : "the chat template trains none of the examples' turns: check its trainedRoles (default ['assistant']) against the roles of your messages";
    throw new RangeError(
      `tokenizeChats: every target of all ${examples.length} examples is masked, so there is nothing to train on (the loss would be NaN): ${why}`,
    );
  }
  return result;
}
