// The Tokenizer: byte-level BPE with special tokens, tiktoken's encode semantics, and the file
// formats of tiktoken and Hugging Face.
import { byteLevelToBytes, bytesToByteLevel } from './byte-level.js';
import { type ChatMessage, type ChatOptions, type RenderedChat, renderChat } from './chat.js';
import { DisallowedSpecialTokenError, TokenIdError, TokenizerError, TokenizerFormatError } from './errors.js';
import {
  type HuggingFaceTokenizerJson,
  partsFromHuggingFace,
  partsToHuggingFace,
  type TokenizerParts,
} from './huggingface.js';
import { readFileBytes, readFileBytesSync, writeFileText } from './node-files.js';
import { type PatternName, resolvePattern, type SplitPattern } from './patterns.js';
import { PieceEncoder } from './piece-encoder.js';
import { type SpecialTokenSelection, SpecialTokens } from './special-tokens.js';
import { forEachSpecialSplit } from './split.js';
import { StreamDecoder } from './stream-decoder.js';
import { segmentStream } from './stream-segmenter.js';
import { formatTiktoken, parseTiktoken } from './tiktoken-format.js';
import { TokenBytes } from './token-bytes.js';
import { type TrainingCorpus, type TrainOptions, trainBpe } from './train.js';
import { isValidUtf8, utf8Decode, utf8Encode, validSequenceLength } from './utf8.js';
import { Vocabulary } from './vocabulary.js';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Special tokens to encode as their ids when their text appears in the input: `'all'` or a
   * list. Default: none.
   */
  allowedSpecial?: SpecialTokenSelection;
  /**
   * Special tokens whose text in the input is an error ({@link DisallowedSpecialTokenError}).
   * Default `'all'`, meaning every special token that is not allowed. Pass `[]` to encode
   * special-token text that is not allowed as ordinary text.
   */
  disallowedSpecial?: SpecialTokenSelection;
  /** `'array'` (default) returns `number[]`; `'uint32'` returns a `Uint32Array`. */
  output?: 'array' | 'uint32';
}

/** Special tokens given as `{ text: id }` or as `[text, id]` pairs. */
export type SpecialTokenMap = Readonly<Record<string, number>> | Iterable<readonly [string, number]>;

/** Options of {@link Tokenizer.fromTiktoken}. */
export interface FromTiktokenOptions {
  /** The split pattern: `'gpt2'` (also r50k/p50k), `'cl100k'`, `'o200k'`, a regex source or a RegExp. */
  pattern: PatternName | string | RegExp;
  /** Special tokens and their ids (e.g. `{ '<|endoftext|>': 100257 }`). */
  specialTokens?: SpecialTokenMap;
}

/** A `.tiktoken` source: file contents (text or bytes), or a file path / `file:` URL (Node only). */
export type TiktokenSource = string | Uint8Array | ArrayBuffer | URL;

function specialTokenEntries(tokens: SpecialTokenMap | undefined): [string, number][] {
  if (tokens === undefined) return [];
  if (Symbol.iterator in tokens)
    return [...(tokens as Iterable<readonly [string, number]>)].map(([t, id]) => [t, id]);
  return Object.entries(tokens as Record<string, number>);
}

// A string is `.tiktoken` contents rather than a path when it has a line break, or is a single
// `<base64> <rank>` line.
function looksLikeTiktokenContents(text: string): boolean {
  return text.includes('\n') || /^[A-Za-z0-9+/=]+ \d+\s*$/.test(text);
}

/**
 * A byte-level BPE tokenizer: text ↔ token ids.
 *
 * Create one with {@link Tokenizer.fromTiktoken}, {@link Tokenizer.fromHuggingFace},
 * {@link Tokenizer.load} or {@link Tokenizer.train}. Encoding gives the same ids as tiktoken for
 * the same rank file and split pattern. Instances are immutable apart from an internal cache.
 */
export class Tokenizer {
  /** Number of ids: one more than the largest token id, special tokens included. */
  readonly vocabSize: number;
  /** Special token text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly vocab: Vocabulary;
  private readonly specials: SpecialTokens;
  private readonly splitPattern: SplitPattern;
  private readonly encoder: PieceEncoder;
  /** Bytes of every id (regular and special), for decoding. */
  private readonly idBytes: TokenBytes;

  private constructor(parts: TokenizerParts) {
    this.vocab = parts.vocab;
    this.splitPattern = parts.pattern;
    this.specials = new SpecialTokens(parts.specialTokens);
    this.specialTokens = this.specials.byText;
    this.encoder = new PieceEncoder(this.vocab, this.splitPattern);
    this.idBytes = withSpecialTokens(this.vocab.tokens, this.specials.byText);
    this.vocabSize = this.idBytes.size;
  }

  // ---------------------------------------------------------------- construction

  /**
   * Loads a tiktoken rank file (`<base64 token> <rank>` per line). `source` is the file contents
   * (string or bytes) or, in Node, a file path or `file:` URL (read synchronously). A string is
   * taken as contents when it contains a line break, otherwise as a path.
   */
  static fromTiktoken(source: TiktokenSource, options: FromTiktokenOptions): Tokenizer {
    let contents: string | Uint8Array;
    if (source instanceof URL) contents = readFileBytesSync(source);
    else if (source instanceof ArrayBuffer) contents = new Uint8Array(source);
    else if (typeof source === 'string' && !looksLikeTiktokenContents(source))
      contents = readFileBytesSync(source);
    else contents = source;
    if (options?.pattern === undefined) {
      throw new TokenizerError(
        "fromTiktoken needs { pattern }: 'gpt2', 'cl100k', 'o200k' or a custom regex.",
      );
    }
    return new Tokenizer({
      vocab: Vocabulary.fromRanks(parseTiktoken(contents)),
      pattern: resolvePattern(options.pattern),
      specialTokens: specialTokenEntries(options.specialTokens),
    });
  }

  /** Loads a Hugging Face `tokenizer.json` (its text or the parsed object) for byte-level BPE. */
  static fromHuggingFace(json: string | object): Tokenizer {
    return new Tokenizer(partsFromHuggingFace(json));
  }

  /**
   * Loads a tokenizer file (Node only): a `tokenizer.json`, or a `.tiktoken` rank file, which
   * needs `options.pattern`.
   */
  static async load(path: string | URL, options?: FromTiktokenOptions): Promise<Tokenizer> {
    const bytes = await readFileBytes(path);
    const first = bytes.find(
      (b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf,
    );
    if (first === 0x7b /* { */) {
      try {
        return Tokenizer.fromHuggingFace(utf8Decode(bytes));
      } catch (error) {
        // name the file: a run directory holds several JSON files, and the message alone says "tokenizer.json"
        if (error instanceof TokenizerFormatError)
          throw new TokenizerFormatError(`${String(path)}: ${error.message}`);
        throw error;
      }
    }
    if (options === undefined) {
      throw new TokenizerFormatError(
        `${String(path)} is not a tokenizer.json; to load it as a .tiktoken file pass { pattern } as the second argument.`,
      );
    }
    return Tokenizer.fromTiktoken(bytes, options);
  }

  /**
   * Trains a byte-level BPE tokenizer on `corpus`: a string, an array of documents, or an
   * (async) iterable of text or UTF-8 byte chunks (such as a file read stream) that together form
   * one text. See {@link TrainOptions} for the tie-breaking rule and special tokens.
   */
  static async train(corpus: TrainingCorpus, options: TrainOptions): Promise<Tokenizer> {
    const pattern = resolvePattern(options.pattern ?? 'cl100k');
    const result = await trainBpe(corpus, { ...options, pattern });
    return new Tokenizer({
      vocab: Vocabulary.fromMerges(result.tokens, result.merges),
      pattern,
      specialTokens: result.specialTokens,
    });
  }

  // ---------------------------------------------------------------- export

  /** The tokenizer as a Hugging Face `tokenizer.json` object (pass it to `JSON.stringify`). */
  toHuggingFace(): HuggingFaceTokenizerJson {
    return partsToHuggingFace({
      vocab: this.vocab,
      pattern: this.splitPattern,
      specialTokens: [...this.specialTokens],
    });
  }

  /**
   * The regular tokens in the `.tiktoken` format. Special tokens and the split pattern are not
   * part of that format: keep them next to the file.
   */
  toTiktoken(): string {
    return formatTiktoken(this.vocab.tokens);
  }

  /** Saves the tokenizer as a Hugging Face `tokenizer.json` file (Node only). */
  async save(path: string | URL): Promise<void> {
    await writeFileText(path, `${JSON.stringify(this.toHuggingFace(), null, 2)}\n`);
  }

  // ---------------------------------------------------------------- encoding

  /** The split pattern's source, in tiktoken / tokenizer.json syntax. */
  get pattern(): string {
    return this.splitPattern.source;
  }

  /**
   * Encodes text to ids with tiktoken's rules for special tokens: special-token text in the input
   * throws a {@link DisallowedSpecialTokenError} unless it is allowed (then it becomes the special
   * id) or excluded from `disallowedSpecial` (then it is ordinary text). Lone surrogates are
   * encoded as U+FFFD, as `TextEncoder` does.
   */
  encode(text: string, options: EncodeOptions & { output: 'uint32' }): Uint32Array;
  encode(text: string, options?: EncodeOptions & { output?: 'array' }): number[];
  encode(text: string, options?: EncodeOptions): number[] | Uint32Array;
  encode(text: string, options: EncodeOptions = {}): number[] | Uint32Array {
    const ids: number[] = [];
    this.encodeInto(wellFormed(text), options, ids);
    return options.output === 'uint32' ? Uint32Array.from(ids) : ids;
  }

  /** Encodes text without looking for special tokens at all: their text is ordinary text. */
  encodeOrdinary(text: string): number[] {
    const ids: number[] = [];
    this.encoder.encode(wellFormed(text), ids);
    return ids;
  }

  /** Encodes several texts (same options as {@link encode}). */
  encodeBatch(texts: readonly string[], options: EncodeOptions & { output: 'uint32' }): Uint32Array[];
  encodeBatch(texts: readonly string[], options?: EncodeOptions & { output?: 'array' }): number[][];
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): number[][] | Uint32Array[] {
    return texts.map((text) => this.encode(text, options)) as number[][] | Uint32Array[];
  }

  /** Number of tokens of `text` (same options as {@link encode}). */
  countTokens(text: string, options: Omit<EncodeOptions, 'output'> = {}): number {
    return this.encode(text, options).length;
  }

  /**
   * Encodes raw bytes, which need not be valid UTF-8. Each stretch of valid UTF-8 is encoded as
   * text ({@link encodeOrdinary}); each run of invalid bytes is merged on its own, so every byte
   * survives: `decodeBytes(encodeBytes(b))` equals `b`.
   */
  encodeBytes(bytes: Uint8Array): number[] {
    const ids: number[] = [];
    if (isValidUtf8(bytes)) {
      this.encoder.encode(utf8Decode(bytes), ids);
      return ids;
    }
    let i = 0;
    while (i < bytes.length) {
      const validStart = i;
      for (let n = validSequenceLength(bytes, i); n > 0; n = validSequenceLength(bytes, i)) i += n;
      if (i > validStart) this.encoder.encode(utf8Decode(bytes.subarray(validStart, i)), ids);
      const invalidStart = i;
      while (i < bytes.length && validSequenceLength(bytes, i) === 0) i++;
      if (i > invalidStart) {
        const piece = this.encoder.encodePieceBytes(bytes.subarray(invalidStart, i), i - invalidStart);
        if (typeof piece === 'number') ids.push(piece);
        else for (const id of piece) ids.push(id);
      }
    }
    return ids;
  }

  /**
   * Encodes a stream of text or UTF-8 byte chunks (e.g. a file read stream) with bounded memory,
   * yielding ids as they are ready. Same ids as {@link encodeOrdinary} on the whole text.
   */
  async *encodeStream(
    chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  ): AsyncGenerator<number[]> {
    for await (const segment of segmentStream(chunks)) yield this.encodeOrdinary(segment);
  }

  private encodeInto(text: string, options: EncodeOptions, out: number[]): void {
    if (options.allowedSpecial === undefined && options.disallowedSpecial === undefined) {
      // The common case: no special token allowed, all of them forbidden.
      const forbidden = this.specials.matcherOfAll();
      if (forbidden !== undefined) {
        forbidden.lastIndex = 0;
        const found = forbidden.exec(text);
        if (found !== null) throw new DisallowedSpecialTokenError(found[0], found.index);
      }
      this.encoder.encode(text, out);
      return;
    }
    const allowed = this.specials.select(options.allowedSpecial);
    const disallowed =
      options.disallowedSpecial === undefined || options.disallowedSpecial === 'all'
        ? new Set([...this.specials.byText.keys()].filter((t) => !allowed.has(t)))
        : this.specials.select(options.disallowedSpecial);
    const forbidden = this.specials.matcher(disallowed);
    if (forbidden !== undefined) {
      forbidden.lastIndex = 0;
      const found = forbidden.exec(text);
      if (found !== null) throw new DisallowedSpecialTokenError(found[0], found.index);
    }
    forEachSpecialSplit(
      text,
      this.specials.matcher(allowed),
      (ordinary) => this.encoder.encode(ordinary, out),
      (special) => out.push(this.specials.byText.get(special)!),
    );
  }

  // ---------------------------------------------------------------- decoding

  /**
   * Decodes ids to text. Byte sequences that are not valid UTF-8 (possible when a token sequence
   * is cut inside a character) become U+FFFD; use {@link decodeBytes} to keep the raw bytes.
   * Throws a {@link TokenIdError} for an id that is not in the vocabulary.
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Decode(this.decodeBytes(ids));
  }

  /** Decodes ids to the exact bytes of their tokens, concatenated. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const { pool, starts, lengths } = this.idBytes;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(starts[id] >= 0)) throw this.badId(id, i); // also catches non-integers and out of range
      total += lengths[id];
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const start = starts[id];
      const end = start + lengths[id];
      for (let k = start; k < end; k++) out[offset++] = pool[k];
    }
    return out;
  }

  /**
   * A decoder for generation: push ids as they are sampled and get text back only once the
   * UTF-8 characters they spell are complete.
   */
  createStreamDecoder(): StreamDecoder {
    return new StreamDecoder((ids) => this.decodeBytes(ids));
  }

  private badId(id: number, position: number): TokenIdError {
    return new TokenIdError(
      `Token id ${id} at position ${position} is not in the vocabulary (ids are integers from 0 to ${this.vocabSize - 1}` +
        `${Number.isInteger(id) && id >= 0 && id < this.vocabSize ? '; this id is unused' : ''}).`,
    );
  }

  // ---------------------------------------------------------------- vocabulary

  /**
   * The id of a token, or undefined. A string is a special token's text or a regular token in the
   * byte-level alphabet of tokenizer.json (a space is `Ġ`, so `" hello"` is `'Ġhello'`); a
   * Uint8Array is a regular token's raw bytes.
   */
  tokenToId(token: string | Uint8Array): number | undefined {
    if (typeof token !== 'string') return this.vocab.idOfBytes(token);
    const special = this.specials.byText.get(token);
    if (special !== undefined) return special;
    const bytes = byteLevelToBytes(token);
    return bytes === undefined ? undefined : this.vocab.idOfBytes(bytes);
  }

  /**
   * The token of an id as {@link tokenToId} spells it (special-token text, or the byte-level
   * form of a regular token), or undefined for an id that is not in the vocabulary.
   */
  idToToken(id: number): string | undefined {
    const special = this.specials.byId.get(id);
    if (special !== undefined) return special;
    const bytes = this.vocab.bytesOf(id);
    return bytes === undefined ? undefined : bytesToByteLevel(bytes);
  }

  /** A copy of the raw bytes of a token (special tokens give their UTF-8 text), or undefined. */
  idToBytes(id: number): Uint8Array | undefined {
    return this.idBytes.get(id)?.slice();
  }

  /** Whether `id` is a special token. */
  isSpecialId(id: number): boolean {
    return this.specials.byId.has(id);
  }

  /** Number of merge rules. */
  get mergeCount(): number {
    return this.vocab.merges.length;
  }

  // ---------------------------------------------------------------- chat

  /**
   * Renders a conversation with a chat template and encodes it, with a mask that marks the
   * assistant's tokens (1) for the fine-tuning loss. See {@link ChatOptions}.
   */
  renderChat(messages: readonly ChatMessage[], options: ChatOptions = {}): RenderedChat {
    return renderChat(
      {
        encodeOrdinary: (text) => this.encodeOrdinary(text),
        encodeTemplate: (text) => this.encode(text, { allowedSpecial: 'all' }),
        hasSpecialToken: (text) => this.specials.byText.has(text),
      },
      messages,
      options,
    );
  }
}

/**
 * The bytes of every id: the regular tokens plus the UTF-8 text of each special token. A special
 * token may share its id with a regular token of the same text (GPT-2's tokenizer.json lists
 * <|endoftext|> in both places), never with a different token.
 */
function withSpecialTokens(regular: TokenBytes, specials: ReadonlyMap<string, number>): TokenBytes {
  let size = regular.size;
  for (const id of specials.values()) size = Math.max(size, id + 1);
  const encoded = [...specials].map(([text, id]) => [utf8Encode(text), id] as const);
  const pool = new Uint8Array(regular.pool.length + encoded.reduce((n, [bytes]) => n + bytes.length, 0));
  pool.set(regular.pool);
  const starts = new Int32Array(size).fill(-1);
  starts.set(regular.starts);
  const lengths = new Int32Array(size);
  lengths.set(regular.lengths);
  let offset = regular.pool.length;
  for (const [bytes, id] of encoded) {
    const existing = regular.get(id);
    if (existing !== undefined && utf8Decode(existing) !== utf8Decode(bytes)) {
      throw new TokenizerError(
        `Special token ${JSON.stringify(utf8Decode(bytes))} has id ${id}, which a regular token already uses.`,
      );
    }
    pool.set(bytes, offset);
    starts[id] = offset;
    lengths[id] = bytes.length;
    offset += bytes.length;
  }
  return new TokenBytes(pool, starts, lengths);
}

function wellFormed(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}
