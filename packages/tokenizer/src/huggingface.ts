// The Hugging Face `tokenizer.json` format, restricted to what byte-level BPE uses (GPT-2,
// Llama 3, tokenizers trained here): a BPE model with a vocab (byte-level string → id) and
// merges, added tokens, a byte-level pre-tokenizer (optionally after a regex Split) and a
// byte-level decoder. Anything else (normalizers, WordPiece, byte fallback, ...) changes how text
// is tokenized, so it is rejected with an error rather than silently ignored.
import { byteLevelToBytes, bytesToByteLevel } from './byte-level.js';
import { TokenizerFormatError } from './errors.js';
import { resolvePattern, type SplitPattern } from './patterns.js';
import { TokenBytes } from './token-bytes.js';
import { type Merge, Vocabulary } from './vocabulary.js';

/** An entry of `added_tokens` in tokenizer.json. */
export interface HuggingFaceAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The parts of a tokenizer.json that this package reads and writes. */
export interface HuggingFaceTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: HuggingFaceAddedToken[];
  normalizer: null;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

/** What a tokenizer is made of, independent of the file format. */
export interface TokenizerParts {
  vocab: Vocabulary;
  specialTokens: [string, number][];
  pattern: SplitPattern;
}

type Json = Record<string, unknown>;

function invalid(message: string): never {
  throw new TokenizerFormatError(`Invalid or unsupported tokenizer.json: ${message}`);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the split pattern out of a byte-level pre-tokenizer. */
function readPreTokenizer(pre: unknown): SplitPattern {
  if (!isObject(pre))
    invalid('"pre_tokenizer" must be a ByteLevel pre-tokenizer (or a Sequence of Split and ByteLevel).');
  const byteLevel = (step: Json, mayUseRegex: boolean): boolean => {
    if (step.add_prefix_space === true) invalid('ByteLevel "add_prefix_space": true is not supported.');
    const useRegex = step.use_regex !== false;
    if (useRegex && !mayUseRegex) invalid('ByteLevel after a Split must have "use_regex": false.');
    return useRegex;
  };
  if (pre.type === 'ByteLevel') {
    byteLevel(pre, true);
    return resolvePattern('gpt2'); // ByteLevel's built-in regex is GPT-2's
  }
  if (pre.type !== 'Sequence' || !Array.isArray(pre.pretokenizers)) {
    invalid(
      `pre-tokenizer type ${JSON.stringify(pre.type)} is not supported (expected ByteLevel or Sequence).`,
    );
  }
  const steps = pre.pretokenizers as unknown[];
  if (steps.length === 1 && isObject(steps[0]) && steps[0].type === 'ByteLevel')
    return readPreTokenizer(steps[0]);
  const [split, level] = steps;
  if (
    steps.length !== 2 ||
    !isObject(split) ||
    !isObject(level) ||
    split.type !== 'Split' ||
    level.type !== 'ByteLevel'
  ) {
    invalid('a Sequence pre-tokenizer must be [Split, ByteLevel].');
  }
  byteLevel(level, false);
  if (split.behavior !== 'Isolated' || split.invert === true) {
    invalid('the Split pre-tokenizer must have "behavior": "Isolated" and "invert": false.');
  }
  const pattern = split.pattern;
  if (isObject(pattern) && typeof pattern.Regex === 'string') return resolvePattern(pattern.Regex);
  if (isObject(pattern) && typeof pattern.String === 'string') {
    return resolvePattern(new RegExp(pattern.String.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'u'));
  }
  return invalid('the Split pre-tokenizer has no "Regex" or "String" pattern.');
}

function readDecoder(decoder: unknown): void {
  if (decoder === null || decoder === undefined) return;
  if (isObject(decoder) && decoder.type === 'ByteLevel') return;
  invalid('"decoder" must be ByteLevel (or null).');
}

/**
 * Reads a tokenizer.json (as text or parsed object). Accepts merges as `"a b"` strings or
 * `["a", "b"]` pairs. Every added token becomes a special token.
 */
export function partsFromHuggingFace(input: string | object): TokenizerParts {
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (error) {
      invalid(`not JSON (${(error as Error).message}).`);
    }
  }
  if (!isObject(json)) invalid('the top level must be an object.');
  if (json.normalizer !== null && json.normalizer !== undefined) {
    invalid('normalizers are not supported (byte-level BPE tokenizers have "normalizer": null).');
  }
  const model = json.model;
  if (!isObject(model)) invalid('"model" is missing.');
  if (model.type !== undefined && model.type !== 'BPE')
    invalid(`model type ${JSON.stringify(model.type)} is not BPE.`);
  if (model.byte_fallback === true)
    invalid('"byte_fallback" BPE (SentencePiece style) is not byte-level BPE.');
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[key] !== null && model[key] !== undefined && model[key] !== '')
      invalid(`"${key}" is not supported.`);
  }
  if (typeof model.dropout === 'number' && model.dropout > 0) invalid('BPE dropout is not supported.');
  if (!isObject(model.vocab)) invalid('"model.vocab" must be an object of token → id.');
  if (!Array.isArray(model.merges)) invalid('"model.merges" must be an array.');

  const tokens: (Uint8Array | undefined)[] = [];
  const idOf = new Map<string, number>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      invalid(`vocab entry ${JSON.stringify(token)} has invalid id ${id}.`);
    const bytes = byteLevelToBytes(token);
    if (bytes === undefined || bytes.length === 0) {
      invalid(`vocab entry ${JSON.stringify(token)} is not written in the byte-level alphabet.`);
    }
    if (tokens[id as number] !== undefined) invalid(`id ${id} is used by two vocab entries.`);
    tokens[id as number] = bytes;
    idOf.set(token, id as number);
  }
  const merges: Merge[] = (model.merges as unknown[]).map((merge, index) => {
    const pair = typeof merge === 'string' ? merge.split(' ') : merge;
    if (!Array.isArray(pair) || pair.length !== 2)
      invalid(`merge #${index} ${JSON.stringify(merge)} is not a pair.`);
    const left = idOf.get(pair[0] as string);
    const right = idOf.get(pair[1] as string);
    if (left === undefined || right === undefined)
      invalid(`merge #${index} ${JSON.stringify(merge)} uses a token missing from the vocab.`);
    return [left, right] as const;
  });
  const vocab = Vocabulary.fromMerges(TokenBytes.fromList(tokens), merges, {
    wholePieceLookup: model.ignore_merges === true,
  });

  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) invalid('"added_tokens" must be an array.');
  const specialTokens = added.map((entry: unknown, index): [string, number] => {
    if (!isObject(entry) || typeof entry.content !== 'string' || !Number.isInteger(entry.id)) {
      invalid(`added token #${index} needs a string "content" and an integer "id".`);
    }
    return [entry.content, entry.id as number];
  });
  readDecoder(json.decoder);
  return { vocab, specialTokens, pattern: readPreTokenizer(json.pre_tokenizer) };
}

/** Writes a tokenizer.json that Hugging Face tokenizers/transformers load with the same ids. */
export function partsToHuggingFace(parts: TokenizerParts): HuggingFaceTokenizerJson {
  const { vocab, specialTokens, pattern } = parts;
  const names: string[] = [];
  const vocabJson: Record<string, number> = {};
  for (let id = 0; id < vocab.size; id++) {
    const bytes = vocab.bytesOf(id);
    if (bytes === undefined) continue;
    names[id] = bytesToByteLevel(bytes);
    vocabJson[names[id]] = id;
  }
  const preTokenizer =
    pattern.name === 'gpt2'
      ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
      : {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: pattern.source }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...specialTokens]
      .sort((a, b) => a[1] - b[1])
      .map(([content, id]) => ({
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      // tiktoken vocabularies look whole pieces up first; Hugging Face does the same with this flag.
      ignore_merges: vocab.wholePieceLookup,
      vocab: vocabJson,
      merges: vocab.merges.map(([left, right]) => `${names[left]} ${names[right]}`),
    },
  };
}
