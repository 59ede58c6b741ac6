/**
 * Conversation data as JSONL: one example per line, `{"messages": [...]}` (OpenAI fine-tuning
 * files, Hugging Face chat datasets) or `{"prompt": "...", "completion": "..."}`. A bad line is
 * an error naming the file, the line and what is wrong, or, with `skipInvalid`, is left out and
 * listed, so a large scraped file can still be used and the user sees how much was lost.
 */
import {
  type ChatExample,
  ChatExampleError,
  type CheckChatExampleOptions,
  checkChatExample,
} from './chat-example.js';

/** Options of {@link parseChatJsonl}. */
export interface ParseChatJsonlOptions extends CheckChatExampleOptions {
  /** Where the text came from (a file path), for error messages (default `'<jsonl>'`). */
  source?: string;
  /** Leave out bad lines and list them in `skipped` instead of throwing (default false). */
  skipInvalid?: boolean;
}

/** A line that was left out, and why. */
export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  /** What is wrong with it. */
  reason: string;
}

/** What {@link parseChatJsonl} returns. */
export interface ParsedChatJsonl {
  /** The valid examples, in file order. */
  examples: ChatExample[];
  /** The 1-based line of each example (parallel to `examples`). */
  lines: number[];
  /** Lines left out with `skipInvalid` (always empty without it). */
  skipped: SkippedLine[];
}

/** A bad line of a JSONL conversation file: `source:line: reason`. */
export class ChatDataError extends Error {
  override name = 'ChatDataError';
  constructor(
    /** The file (or the `source` option). */
    readonly source: string,
    /** 1-based line number (0 for the file as a whole). */
    readonly line: number,
    /** What is wrong. */
    readonly reason: string,
  ) {
    super(line > 0 ? `${source}:${line}: ${reason}` : `${source}: ${reason}`);
  }
}

/** The first characters of a line, for messages about lines that are not JSON. */
function preview(line: string): string {
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}

/**
 * Parses JSONL conversation data (see the file comment). Blank lines are allowed; every other
 * line must be one JSON example. Throws a {@link ChatDataError} at the first bad line (invalid
 * JSON, missing fields, unknown role, empty content, no assistant turn), or, with
 * `skipInvalid`, collects them in `skipped`. A text with no valid example is always an error.
 *
 * ```ts
 * const { examples, skipped } = parseChatJsonl(text, { source: 'train.jsonl', skipInvalid: true });
 * if (skipped.length) console.warn(`skipped ${skipped.length} bad lines, first: line ${skipped[0].line}: ${skipped[0].reason}`);
 * ```
 */
export function parseChatJsonl(text: string, options: ParseChatJsonlOptions = {}): ParsedChatJsonl {
  const { source = '<jsonl>', skipInvalid = false, ...check } = options;
  if (typeof text !== 'string') {
    throw new TypeError(`parseChatJsonl: text must be a string (the file's contents), got ${typeof text}`);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a UTF-8 BOM from some editors
  const examples: ChatExample[] = [];
  const lines: number[] = [];
  const skipped: SkippedLine[] = [];
  body.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (content.trim() === '') return;
    let reason: string;
    try {
      let value: unknown;
      try {
        value = JSON.parse(content);
      } catch (error) {
        throw new ChatExampleError(`invalid JSON (${(error as Error).message}): ${preview(content.trim())}`);
      }
      examples.push(checkChatExample(value, check));
      lines.push(line);
      return;
    } catch (error) {
      if (!(error instanceof ChatExampleError)) throw error;
      reason = error.message;
    }
    if (!skipInvalid) throw new ChatDataError(source, line, reason);
    skipped.push({ line, reason });
  });
  if (examples.length === 0) {
    const why =
      skipped.length > 0
        ? `all ${skipped.length} lines are invalid (line ${skipped[0].line}: ${skipped[0].reason})`
        : 'it is empty';
    throw new ChatDataError(source, 0, `no examples: ${why}`);
  }
  return { examples, lines, skipped };
}
