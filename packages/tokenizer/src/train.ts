// Byte-level BPE training.
//
// 1. Count words: split the corpus with the pattern (special tokens removed first) and count
//    each distinct piece. The corpus is read segment by segment, so memory grows with the number
//    of distinct pieces, not with the corpus.
// 2. Merge: every distinct word starts as its UTF-8 bytes (ids 0–255). Count each adjacent pair,
//    weighted by word frequency, and remember which words contain it. Then repeatedly take the
//    most frequent pair, give it the next id, and rewrite only the words that contain it,
//    adjusting the counts of the pairs around each rewrite. A max-heap with lazy deletion finds
//    the most frequent pair; nothing is ever recounted from scratch.
//
// Tie-breaking (deterministic, independent of input order and hashing): the pair with the
// highest count wins; among equal counts, the pair with the smaller left id, then the smaller
// right id. Ids 0–255 are the byte values and merged tokens get 256, 257, ... in order, so for
// first merges this means "smallest byte values first".
import { TokenizerError } from './errors.js';
import { PairTable } from './pair-table.js';
import type { PatternName, SplitPattern } from './patterns.js';
import { SpecialTokens } from './special-tokens.js';
import { detachString, forEachSpecialSplit, splitText } from './split.js';
import { StreamSegmenter, segmentStream } from './stream-segmenter.js';
import { TokenBytes } from './token-bytes.js';
import { concatBytes, utf8EncodeInto } from './utf8.js';
import type { Merge } from './vocabulary.js';

/** A stream of text or UTF-8 byte chunks that together form one text (e.g. `fs.createReadStream(path)`). */
export type ChunkStream = Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

/**
 * Training text: a string; a stream of chunks of one continuous text; or an array of separate
 * documents (no token spans two of them), each a string or a chunk stream (e.g. one per file).
 */
export type TrainingCorpus = string | ChunkStream | readonly (string | ChunkStream)[];

/** Progress reports during training. */
export interface TrainProgress {
  /** `'counting'` while reading the corpus, `'merging'` while learning merges, then `'done'`. */
  phase: 'counting' | 'merging' | 'done';
  /** UTF-16 code units of corpus read so far. */
  charsRead: number;
  /** Distinct words (pieces) found so far. */
  distinctWords: number;
  /** Merges learned so far. */
  merges: number;
  /** Merges wanted (`vocabSize - 256 - specialTokens`). */
  targetMerges: number;
}

/** Options of `Tokenizer.train`. */
export interface TrainOptions {
  /**
   * Total vocabulary size: 256 byte tokens + learned merges + special tokens. Training stops
   * early (with a smaller vocabulary) when no pair occurs `minFrequency` times any more.
   */
  vocabSize: number;
  /** Split pattern: a name (`'cl100k'`, default; `'o200k'`, `'gpt2'`), a regex source or a RegExp. */
  pattern?: PatternName | string | RegExp;
  /**
   * Special tokens. They get the last ids (right after the merged tokens), in the order given;
   * their text is removed from the corpus before counting, so it is never learned as merges.
   */
  specialTokens?: readonly string[];
  /** A pair must occur at least this many times (weighted by word count) to be merged. Default 2. */
  minFrequency?: number;
  /** Called now and then with progress. */
  onProgress?: (progress: TrainProgress) => void;
}

/** The learned vocabulary. */
export interface TrainResult {
  /** Token bytes by id (regular tokens). */
  tokens: TokenBytes;
  /** Merge rules in order. */
  merges: Merge[];
  /** Special tokens and their ids. */
  specialTokens: [string, number][];
}

/** A long string is fed to the segmenter in slices of this many characters. */
const SLICE = 1 << 20;

/** Yields the corpus as segments that can be split on their own. */
async function* corpusSegments(corpus: TrainingCorpus): AsyncGenerator<string> {
  if (typeof corpus === 'string') {
    yield* sliceLongText(corpus);
  } else if (Array.isArray(corpus)) {
    for (const doc of corpus as readonly (string | ChunkStream)[]) {
      if (typeof doc === 'string') yield* sliceLongText(doc);
      else yield* streamSegments(doc);
    }
  } else {
    yield* streamSegments(corpus as ChunkStream);
  }
}

function streamSegments(stream: ChunkStream): AsyncGenerator<string> {
  if (
    stream === null ||
    typeof stream !== 'object' ||
    !(Symbol.iterator in stream || Symbol.asyncIterator in stream)
  ) {
    throw new TokenizerError('A training corpus must be a string, a stream of chunks, or an array of those.');
  }
  return segmentStream(stream);
}

function* sliceLongText(text: string): Generator<string> {
  if (text.length <= SLICE) {
    if (text !== '') yield text;
    return;
  }
  const segmenter = new StreamSegmenter();
  for (let i = 0; i < text.length; i += SLICE) {
    const ready = segmenter.push(text.slice(i, i + SLICE));
    if (ready !== '') yield ready;
  }
  const rest = segmenter.finish();
  if (rest !== '') yield rest;
}

/** Word counting: distinct piece → number of occurrences. */
async function countWords(
  corpus: TrainingCorpus,
  pattern: SplitPattern,
  specials: RegExp | undefined,
  report: (charsRead: number, distinctWords: number) => void,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const regex = pattern.regex;
  let charsRead = 0;
  const countPieces = (text: string) => {
    const pieces = splitText(regex, text);
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      const seen = counts.get(piece);
      if (seen === undefined) counts.set(detachString(piece), 1);
      else counts.set(piece, seen + 1);
    }
  };
  for await (const segment of corpusSegments(corpus)) {
    forEachSpecialSplit(segment, specials, countPieces, () => {});
    charsRead += segment.length;
    report(charsRead, counts.size);
  }
  return counts;
}

/**
 * Pair statistics: a slot per distinct pair with its left/right ids, its weighted count and the
 * words it occurs in (a linked list in a shared pool; entries may be stale or repeated).
 */
class PairStats {
  readonly table = new PairTable(1 << 16);
  left = new Int32Array(1 << 16);
  right = new Int32Array(1 << 16);
  count = new Float64Array(1 << 16);
  /** Per slot: the last merge step that queued it (to queue each changed pair once per step). */
  queuedAt = new Int32Array(1 << 16);
  private head = new Int32Array(1 << 16);
  private lastWord = new Int32Array(1 << 16);
  slots = 0;
  // The pool of word-list nodes.
  private nodeWord = new Int32Array(1 << 20);
  private nodeNext = new Int32Array(1 << 20);
  private nodes = 0;

  /** The slot of a pair, created (with count 0) if new. */
  slot(left: number, right: number): number {
    const found = this.table.get(left, right);
    if (found >= 0) return found;
    const s = this.slots++;
    if (s === this.left.length) this.growSlots();
    this.table.set(left, right, s);
    this.left[s] = left;
    this.right[s] = right;
    this.count[s] = 0;
    this.queuedAt[s] = -1;
    this.head[s] = -1;
    this.lastWord[s] = -1;
    return s;
  }

  /** Records that the pair in `slot` occurs in `word`. */
  addWord(slot: number, word: number): void {
    if (this.lastWord[slot] === word) return;
    this.lastWord[slot] = word;
    if (this.nodes === this.nodeWord.length) {
      this.nodeWord = grow(this.nodeWord);
      this.nodeNext = grow(this.nodeNext);
    }
    const n = this.nodes++;
    this.nodeWord[n] = word;
    this.nodeNext[n] = this.head[slot];
    this.head[slot] = n;
  }

  /** The words recorded for a slot (may repeat, may no longer contain the pair). */
  words(slot: number): number[] {
    const out: number[] = [];
    for (let n = this.head[slot]; n >= 0; n = this.nodeNext[n]) out.push(this.nodeWord[n]);
    return out;
  }

  private growSlots(): void {
    this.left = grow(this.left);
    this.right = grow(this.right);
    this.count = grow(this.count);
    this.queuedAt = grow(this.queuedAt);
    this.head = grow(this.head);
    this.lastWord = grow(this.lastWord);
  }
}

function grow<T extends Int32Array | Float64Array>(array: T): T {
  const bigger = new (array.constructor as new (n: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * Max-heap of (count, slot), ordered by count, then by smaller left id, then smaller right id
 * (the tie-breaking rule). Entries are not updated when a count drops; the merge loop checks
 * each popped entry against the current count instead.
 */
class PairHeap {
  private counts = new Float64Array(1 << 16);
  private slots = new Int32Array(1 << 16);
  size = 0;

  constructor(private readonly stats: PairStats) {}

  private before(countA: number, slotA: number, countB: number, slotB: number): boolean {
    if (countA !== countB) return countA > countB;
    const { left, right } = this.stats;
    if (left[slotA] !== left[slotB]) return left[slotA] < left[slotB];
    return right[slotA] < right[slotB];
  }

  push(count: number, slot: number): void {
    if (this.size === this.counts.length) {
      this.counts = grow(this.counts);
      this.slots = grow(this.slots);
    }
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(count, slot, this.counts[parent], this.slots[parent])) break;
      this.counts[i] = this.counts[parent];
      this.slots[i] = this.slots[parent];
      i = parent;
    }
    this.counts[i] = count;
    this.slots[i] = slot;
  }

  /** The count of the top entry. */
  topCount(): number {
    return this.counts[0];
  }

  /** Removes the top entry and returns its slot. */
  pop(): number {
    const top = this.slots[0];
    const n = --this.size;
    const count = this.counts[n];
    const slot = this.slots[n];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (
        child + 1 < n &&
        this.before(this.counts[child + 1], this.slots[child + 1], this.counts[child], this.slots[child])
      ) {
        child++;
      }
      if (!this.before(this.counts[child], this.slots[child], count, slot)) break;
      this.counts[i] = this.counts[child];
      this.slots[i] = this.slots[child];
      i = child;
    }
    this.counts[i] = count;
    this.slots[i] = slot;
    return top;
  }
}

/** Trains byte-level BPE merges on a corpus. */
export async function trainBpe(
  corpus: TrainingCorpus,
  options: Omit<TrainOptions, 'pattern'> & { pattern: SplitPattern },
): Promise<TrainResult> {
  const specialList = [...(options.specialTokens ?? [])];
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specialList.length) {
    throw new TokenizerError(
      `vocabSize must be an integer of at least 256 (one token per byte) + ${specialList.length} special tokens = ` +
        `${256 + specialList.length}; got ${vocabSize}.`,
    );
  }
  const minFrequency = Math.max(1, options.minFrequency ?? 2);
  const targetMerges = vocabSize - 256 - specialList.length;
  const progress: TrainProgress = {
    phase: 'counting',
    charsRead: 0,
    distinctWords: 0,
    merges: 0,
    targetMerges,
  };
  const report = () => options.onProgress?.({ ...progress });
  const specialTokens = new SpecialTokens(specialList.map((t, i): [string, number] => [t, i]));

  const counts = await countWords(corpus, options.pattern, specialTokens.matcherOfAll(), (chars, words) => {
    progress.charsRead = chars;
    progress.distinctWords = words;
    report();
  });

  // Words as byte ids, packed into one array: word w occupies symbols[start[w], start[w] + length[w]).
  const wordCount = new Float64Array(counts.size);
  const start = new Int32Array(counts.size);
  const length = new Int32Array(counts.size);
  let totalChars = 0;
  for (const word of counts.keys()) totalChars += word.length;
  const symbolBytes = new Uint8Array(totalChars * 3);
  let used = 0;
  let w = 0;
  for (const [word, count] of counts) {
    start[w] = used;
    length[w] = utf8EncodeInto(word, symbolBytes.subarray(used));
    used += length[w];
    wordCount[w] = count;
    w++;
  }
  counts.clear();
  const symbols = Int32Array.from(symbolBytes.subarray(0, used));

  // Initial pair counts.
  const stats = new PairStats();
  for (let w = 0; w < wordCount.length; w++) {
    const end = start[w] + length[w];
    for (let i = start[w]; i + 1 < end; i++) {
      const s = stats.slot(symbols[i], symbols[i + 1]);
      stats.count[s] += wordCount[w];
      stats.addWord(s, w);
    }
  }
  const heap = new PairHeap(stats);
  for (let s = 0; s < stats.slots; s++) if (stats.count[s] >= minFrequency) heap.push(stats.count[s], s);

  const tokens: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  const merges: Merge[] = [];
  const seenInMerge = new Int32Array(wordCount.length).fill(-1);
  const touched: number[] = [];
  progress.phase = 'merging';
  report();

  while (merges.length < targetMerges && heap.size > 0) {
    const queuedCount = heap.topCount();
    const best = heap.pop();
    const current = stats.count[best];
    if (current !== queuedCount) {
      // Stale entry. A higher current count means a newer entry is queued already.
      if (current < queuedCount && current >= minFrequency) heap.push(current, best);
      continue;
    }
    if (current < minFrequency) break;

    const a = stats.left[best];
    const b = stats.right[best];
    const z = tokens.length;
    tokens.push(concatBytes([tokens[a], tokens[b]]));
    merges.push([a, b]);
    touched.length = 0;
    const change = (left: number, right: number, delta: number, word: number) => {
      const s = stats.slot(left, right);
      stats.count[s] += delta;
      if (delta > 0) {
        stats.addWord(s, word);
        if (stats.queuedAt[s] !== merges.length) {
          stats.queuedAt[s] = merges.length;
          touched.push(s);
        }
      }
    };

    for (const word of stats.words(best)) {
      if (seenInMerge[word] === merges.length) continue;
      seenInMerge[word] = merges.length;
      const c = wordCount[word];
      const first = start[word];
      const end = first + length[word];
      let write = first;
      for (let read = first; read < end; ) {
        if (read + 1 < end && symbols[read] === a && symbols[read + 1] === b) {
          // The pair (left neighbour, a) becomes (left neighbour, z); likewise on the right. The
          // left neighbour is already rewritten, so "a b a b" correctly yields (z, z).
          if (write > first) {
            change(symbols[write - 1], a, -c, word);
            change(symbols[write - 1], z, c, word);
          }
          if (read + 2 < end) {
            change(b, symbols[read + 2], -c, word);
            change(z, symbols[read + 2], c, word);
          }
          symbols[write++] = z;
          read += 2;
        } else {
          symbols[write++] = symbols[read++];
        }
      }
      length[word] = write - first;
    }
    stats.count[best] = 0; // every occurrence is merged now
    for (const s of touched) {
      if (stats.count[s] >= minFrequency) heap.push(stats.count[s], s);
    }
    progress.merges = merges.length;
    if (merges.length % 1000 === 0) report();
  }

  progress.phase = 'done';
  progress.merges = merges.length;
  report();
  return {
    tokens: TokenBytes.fromList(tokens),
    merges,
    specialTokens: specialList.map((text, i): [string, number] => [text, tokens.length + i]),
  };
}
