// Child process for one training run, so that peak memory (maxRSS) belongs to that run alone.
// Kiln streams the file; Hugging Face's native trainer reads it itself. Both split with the
// cl100k pattern then work on bytes. Prints one JSON line.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';

const [trainer, vocabText, corpus] = process.argv.slice(2);
const vocabSize = Number(vocabText);
const require = createRequire(import.meta.url);
let result: { vocabSize: number };
let ms: number;
const cpuStart = process.cpuUsage();

if (trainer === 'kiln') {
  const { Tokenizer } = await import('@kiln/tokenizer');
  const start = performance.now();
  const tokenizer = await Tokenizer.train(createReadStream(corpus), { vocabSize, pattern: 'cl100k' });
  ms = performance.now() - start;
  result = { vocabSize: tokenizer.vocabSize };
} else {
  // The npm binding has no trainer options: `train(files)` always uses BpeTrainer::default()
  // (vocabulary 30000, min_frequency 0). The pre-tokenizer is given through tokenizer.json,
  // because the binding's `splitPreTokenizer(string)` takes a literal string, not a regex.
  const { PATTERN_SOURCES } = await import('@kiln/tokenizer');
  const hf = require('tokenizers');
  const config = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: PATTERN_SOURCES.cl100k }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: {},
      merges: [],
    },
  };
  const start = performance.now();
  const tokenizer = hf.Tokenizer.fromString(JSON.stringify(config));
  tokenizer.train([corpus]);
  ms = performance.now() - start;
  result = { vocabSize: tokenizer.getVocabSize() };
}
const cpu = process.cpuUsage(cpuStart);
console.log(
  JSON.stringify({
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...result,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
