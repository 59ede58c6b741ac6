// The playground's training session in Node, for comparison with the browser (docs/browser.md):
// `pnpm --filter @kiln/example-playground steps:node [webgpu|cpu] [steps] [small]` (`small`: the
// preset the browser test uses).
import { DEFAULT_OPTIONS, TrainingSession } from '../src/session.js';
import { loadTexts } from './texts.mjs';

const backend = (process.argv[2] ?? 'webgpu') as 'webgpu' | 'cpu';
const steps = Number(process.argv[3] ?? 60);
const [first] = loadTexts();
const small = process.argv[4] === 'small';
const options = small
  ? { ...DEFAULT_OPTIONS, nLayers: 1, dModel: 48, nHeads: 4, contextLength: 32, batchSize: 8, lr: 1e-2 }
  : DEFAULT_OPTIONS;
const session = await TrainingSession.create(first.text, options, backend);
const t0 = performance.now();
let warm = 0;
for (let i = 0; i < steps; i++) {
  const loss = await session.trainStep();
  if (i === 4) warm = performance.now();
  if (i % 10 === 0 || i === steps - 1)
    console.log(`step ${session.step} loss ${loss.toFixed(3)} ${session.tokensPerSecond.toFixed(0)} tok/s`);
}
const end = performance.now();
const result = {
  backend: session.backend,
  steps,
  firstFiveSeconds: (warm - t0) / 1000,
  stepsPerSecondAfterFive: (steps - 5) / ((end - warm) / 1000),
  // the page's own figure: tokens/s over the last ten trainStep calls, as steps/s
  lastTenStepsPerSecond: session.tokensPerSecond / (options.batchSize * options.contextLength),
  finalLoss: session.losses.at(-1)?.loss,
};
console.log(JSON.stringify(result));
console.log('sample:', JSON.stringify(await session.sample('Call me', 30)));
const attn = await session.attention('Call me Ishmael.', 1, 0);
console.log(
  'attention rows',
  attn.weights.length,
  'row sums',
  attn.weights.map((r) => r.reduce((a, b) => a + b, 0).toFixed(3)).join(' '),
);
process.exit(0);
