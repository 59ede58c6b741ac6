// Special tokens (`<|endoftext|>`, `<|im_start|>`, ...) are control symbols with fixed ids that
// are never produced by merging. Following tiktoken, text that looks like a special token is an
// error by default, because letting user-supplied text turn into control tokens is a prompt
// injection hole; callers opt in per token.
import { TokenizerError } from './errors.js';

/** Which special tokens a call means: `'all'` or an explicit list. */
export type SpecialTokenSelection = 'all' | Iterable<string>;

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** The special tokens of a tokenizer, with cached matchers. */
export class SpecialTokens {
  /** Special token text → id. */
  readonly byText: ReadonlyMap<string, number>;
  /** Id → special token text. */
  readonly byId: ReadonlyMap<number, string>;
  private readonly matchers = new Map<string, RegExp>();
  private all: RegExp | undefined | null = null;

  constructor(tokens: Iterable<readonly [string, number]>) {
    const byText = new Map<string, number>();
    const byId = new Map<number, string>();
    for (const [text, id] of tokens) {
      if (text === '') throw new TokenizerError('A special token cannot be the empty string.');
      if (!Number.isInteger(id) || id < 0)
        throw new TokenizerError(`Special token ${JSON.stringify(text)} has invalid id ${id}.`);
      if (byText.has(text)) throw new TokenizerError(`Special token ${JSON.stringify(text)} is given twice.`);
      if (byId.has(id))
        throw new TokenizerError(
          `Special tokens ${JSON.stringify(byId.get(id))} and ${JSON.stringify(text)} share id ${id}.`,
        );
      byText.set(text, id);
      byId.set(id, text);
    }
    this.byText = byText;
    this.byId = byId;
  }

  /** Number of special tokens. */
  get size(): number {
    return this.byText.size;
  }

  /** Resolves a selection to a set of token texts; throws on a name that is not a special token. */
  select(selection: SpecialTokenSelection | undefined): ReadonlySet<string> {
    if (selection === undefined) return new Set();
    if (selection === 'all') return new Set(this.byText.keys());
    const chosen = new Set<string>();
    for (const text of selection) {
      if (!this.byText.has(text)) {
        throw new TokenizerError(`${JSON.stringify(text)} is not a special token of this tokenizer.`);
      }
      chosen.add(text);
    }
    return chosen;
  }

  /** A global regex matching any special token (undefined when there are none). */
  matcherOfAll(): RegExp | undefined {
    if (this.all === null) this.all = this.matcher(new Set(this.byText.keys()));
    return this.all;
  }

  /**
   * A global regex matching any of `texts`. Longer tokens are tried first, so when one special
   * token is a prefix of another the longer one wins. Cached per set.
   */
  matcher(texts: ReadonlySet<string>): RegExp | undefined {
    if (texts.size === 0) return undefined;
    const sorted = [...texts].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    const key = sorted.join('\u0000');
    let regex = this.matchers.get(key);
    if (regex === undefined) {
      regex = new RegExp(sorted.map(escapeRegex).join('|'), 'gu');
      if (this.matchers.size > 32) this.matchers.clear();
      this.matchers.set(key, regex);
    }
    return regex;
  }
}
