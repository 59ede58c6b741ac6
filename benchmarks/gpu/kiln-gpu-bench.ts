// Kiln on a real GPU (the device run, benchmarks/gpu/run.sh): matrix-product GFLOP/s at the
// tensor suite's sizes and beyond, in the three layouts a training step uses, and the training
// step of GPT-2 124M in tokens/s. Prints one JSON object as its last line.
//
//   node kiln-gpu-bench.mjs [--sizes 256,1024,4096] [--batch 8] [--context 1024] [--steps 10] [--small]
//
// --small swaps GPT-2 124M for a 2-layer d-128 model so the script can be tried on lavapipe
// before it travels (prepare.sh does that). The step is the one the train suite times
// (benchmarks/src/train/kiln-train.ts): upload, forward with the loss, backward, AdamW, zeroGrad,
// and the loss read back.
import { backward } from '@kiln/autograd';
import { init, manualSeed, randn, type Tensor, tensor } from '@kiln/tensor';
import { AdamW } from '@kiln/trainer';
import { GPT, type GPTConfig } from '@kiln/transformer';
import { readOne } from '../src/tensor/kiln-ops.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const small = process.argv.includes('--small');
const sizes = flag('sizes', small ? '256,512' : '256,512,1024,2048,4096')
  .split(',')
  .map(Number);
const batch = Number(flag('batch', small ? '2' : '8'));
const context = Number(flag('context', small ? '64' : '1024'));
const steps = Number(flag('steps', small ? '3' : '10'));
// FLOPs of back-to-back products per timed sample: ~20 ms at 10 TFLOP/s amortises launches on a GPU
const flopsPerSample = small ? 2e9 : 2e11;

const info = await init({ backend: 'webgpu', adapter: { powerPreference: 'high-performance' } });
manualSeed(0);
const log = (line: string) => console.error(`[kiln-gpu ${(performance.now() / 1000).toFixed(0)}s] ${line}`);
log(`${info.name}: ${info.device}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';
interface MatmulRow {
  n: number;
  layout: Layout;
  msMedian: number;
  gflops: number;
}

/** GFLOP/s of n×n×n products: enough back-to-back products per sample that launch cost is amortised. */
async function matmulRow(n: number, layout: Layout): Promise<MatmulRow> {
  const a = randn([n, n]);
  const b = randn([n, n]);
  const product = () =>
    layout === 'A·B'
      ? a.matmul(b)
      : layout === 'A·Bᵀ'
        ? a.matmul(b.transpose(0, 1))
        : a.transpose(0, 1).matmul(b);
  const reps = Math.max(2, Math.min(200, Math.round(flopsPerSample / (2 * n ** 3))));
  const sample = async () => {
    let last: Tensor | null = null;
    for (let i = 0; i < reps; i++) {
      last?.dispose();
      last = product();
    }
    await readOne(last!);
    last!.dispose();
  };
  await sample(); // compiles, tunes, warms
  const ms: number[] = [];
  for (let s = 0; s < 7; s++) {
    const start = performance.now();
    await sample();
    ms.push((performance.now() - start) / reps);
  }
  a.dispose();
  b.dispose();
  const msMedian = median(ms);
  return { n, layout, msMedian, gflops: (2 * n ** 3) / (msMedian / 1000) / 1e9 };
}

const matmul: MatmulRow[] = [];
for (const n of sizes)
  for (const layout of ['A·B', 'A·Bᵀ', 'Aᵀ·B'] as const) {
    const row = await matmulRow(n, layout);
    matmul.push(row);
    log(`matmul ${n}³ ${layout}: ${row.gflops.toFixed(0)} GFLOP/s`);
  }

// GPT-2 124M: 12 layers, 12 heads, d 768, context 1024, vocabulary 50257, tied head
const modelConfig: GPTConfig = small
  ? { family: 'gpt2', vocabSize: 512, contextLength: context, nLayers: 2, nHeads: 4, dModel: 128 }
  : { family: 'gpt2', vocabSize: 50257, contextLength: context, nLayers: 12, nHeads: 12, dModel: 768 };
const model = new GPT(modelConfig);
const opt = new AdamW(model.namedParameters(), { lr: 6e-4, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
let seed = 12345;
function randomIds(): Tensor {
  const ids = new Int32Array(batch * context);
  for (let i = 0; i < ids.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    ids[i] = seed % modelConfig.vocabSize;
  }
  return tensor(ids, { shape: [batch, context], dtype: 'int32' });
}
async function step(): Promise<number> {
  const ids = randomIds();
  const targets = randomIds();
  const out = model.forward(ids, targets);
  out.logits.dispose();
  backward(out.loss!);
  opt.step();
  opt.zeroGrad();
  const loss = await out.loss!.item();
  for (const t of [out.loss!, ids, targets]) t.dispose();
  return loss;
}
const warmupMs: number[] = [];
for (let i = 0; i < 2; i++) {
  const start = performance.now();
  await step();
  warmupMs.push(performance.now() - start);
  log(`warm-up step ${i + 1}: ${warmupMs.at(-1)!.toFixed(0)} ms`);
}
const stepMs: number[] = [];
const losses: number[] = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  losses.push(await step());
  stepMs.push(performance.now() - start);
}
const tokensPerStep = batch * context;
const msMedian = median(stepMs);
const flopsPerToken = model.flopsPerToken(context);
const train = {
  model: modelConfig,
  parameters: model.numParameters(),
  batch,
  context,
  tokensPerStep,
  stepMs,
  warmupMs,
  losses,
  tokensPerSecond: tokensPerStep / (msMedian / 1000),
  flopsPerToken,
  achievedTflops: (flopsPerToken * tokensPerStep) / (msMedian / 1000) / 1e12,
};
log(
  `GPT step: ${train.tokensPerSecond.toFixed(0)} tokens/s (${msMedian.toFixed(0)} ms per ${tokensPerStep} tokens)`,
);
console.log(JSON.stringify({ adapter: `${info.name}: ${info.device}`, matmul, train }));
process.exit(0);
