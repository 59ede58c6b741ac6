// Named pre-tokenization (split) patterns. Text is cut into pieces with one of these regexes
// before byte-pair merging, so a token never spans two pieces (e.g. never joins a word and the
// punctuation after it). The sources are written in the syntax that tiktoken and tokenizer.json
// use and are converted to JavaScript once (see regex-convert.ts).
import { TokenizerFormatError } from './errors.js';
import { convertPatternToJs } from './regex-convert.js';

/** Names accepted wherever a split pattern is expected. */
export type PatternName = 'gpt2' | 'cl100k' | 'o200k';

/** The split patterns of OpenAI's encodings, in tiktoken's syntax. */
export const PATTERN_SOURCES: Readonly<Record<PatternName, string>> = {
  // GPT-2, r50k_base and p50k_base.
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  // cl100k_base (GPT-3.5/4); Llama 3 uses the same pattern.
  cl100k:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  // o200k_base (GPT-4o): splits camelCase words and keeps contractions with their word.
  o200k: [
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    '\\p{N}{1,3}',
    ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
    '\\s*[\\r\\n]+',
    '\\s+(?!\\S)',
    '\\s+',
  ].join('|'),
};

/** Other spellings of the names, so `'cl100k_base'` or `'r50k_base'` work too. */
const ALIASES: Readonly<Record<string, PatternName>> = {
  gpt2: 'gpt2',
  r50k: 'gpt2',
  r50k_base: 'gpt2',
  p50k: 'gpt2',
  p50k_base: 'gpt2',
  p50k_edit: 'gpt2',
  cl100k: 'cl100k',
  cl100k_base: 'cl100k',
  llama3: 'cl100k',
  o200k: 'o200k',
  o200k_base: 'o200k',
};

/** A split pattern ready to use: its portable source (for files) and the compiled JS regex. */
export interface SplitPattern {
  /** The name when it is a named pattern. */
  readonly name?: PatternName;
  /** The source in tiktoken / tokenizer.json syntax (what gets saved). */
  readonly source: string;
  /** The compiled regex with the `gu` flags. Shared: reset `lastIndex` before use. */
  readonly regex: RegExp;
}

/**
 * Resolves a split pattern given as a name (`'gpt2'`, `'cl100k'`, `'o200k'` or an alias such as
 * `'cl100k_base'`), as a regex source in tiktoken / tokenizer.json syntax (converted to JS), or
 * as a JavaScript RegExp (used as it is, with the `gu` flags).
 */
export function resolvePattern(pattern: PatternName | string | RegExp): SplitPattern {
  if (pattern instanceof RegExp) {
    return { source: pattern.source, regex: new RegExp(pattern.source, 'gu') };
  }
  const name = ALIASES[pattern];
  if (name !== undefined) {
    const source = PATTERN_SOURCES[name];
    return { name, source, regex: new RegExp(convertPatternToJs(source), 'gu') };
  }
  if (/^[A-Za-z0-9_-]+$/.test(pattern)) {
    throw new TokenizerFormatError(
      `Unknown split pattern name ${JSON.stringify(pattern)}. Known names: ${Object.keys(ALIASES).join(', ')}. ` +
        'Pass a regex source (with at least one backslash, class or group) or a RegExp for a custom pattern.',
    );
  }
  let regex: RegExp;
  try {
    regex = new RegExp(convertPatternToJs(pattern), 'gu');
  } catch (error) {
    if (error instanceof TokenizerFormatError) throw error;
    throw new TokenizerFormatError(
      `Invalid split pattern ${JSON.stringify(pattern)}: ${(error as Error).message}`,
    );
  }
  // A named pattern given by its source gets its name back (e.g. from a tokenizer.json).
  const known = (Object.keys(PATTERN_SOURCES) as PatternName[]).find((n) => PATTERN_SOURCES[n] === pattern);
  return known ? { name: known, source: pattern, regex } : { source: pattern, regex };
}
