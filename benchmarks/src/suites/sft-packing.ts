// The SFT packing benchmark: what best-fit-decreasing packing saves over padding each
// conversation to the longest of its batch (and to the context), on a synthetic distribution of
// conversation lengths, with a small GPT's training step.
//
// Data: 512 conversations, lengths log-normal (median 64 tokens, σ 0.6, clipped to 16–256, a
// long tail like chat data), random token ids, the first 30–80% of each masked as the prompt.
// Model: GPT-2 family, 4 layers, 4 heads, d 128, context 256, vocab 256; AdamW; 8 rows per step.
// A step: SFTDataset.next() → trainStep (languageModelObjective) → loss read back. tokens/s counts
// real (non-padding) tokens, so it is the rate at which conversations are trained on.
// Environment: BENCH_SFT_BACKENDS (comma-separated: webgpu,cpu; default webgpu), BENCH_SFT_STEPS
// (timed steps per layout, default 8), BENCH_SFT_WARMUP (default 2). The layouts' steps are
// interleaved, one of each in turn, so load from other processes hits all of them alike.
import { loadavg } from 'node:os';
import { type Backend, destroyBackend, initBackend, manualSeed } from '@kiln/tensor';
import {
  AdamW,
  IGNORE_INDEX,
  languageModelObjective,
  nonPaddingTokens,
  SFTDataset,
  type SFTPacking,
  type SFTSequence,
  trainStep,
} from '@kiln/trainer';
import { GPT } from '@kiln/transformer';
import { printErrorsAndLoad, printTable, writeResults } from '../harness.js';
import type { Suite } from '../run.js';

const CONTEXT = 256;
const BATCH = 8;
const CONVERSATIONS = 512;
const MODEL = {
  family: 'gpt2',
  vocabSize: 256,
  contextLength: CONTEXT,
  nLayers: 4,
  nHeads: 4,
  dModel: 128,
} as const;
const LAYOUTS: readonly SFTPacking[] = ['best-fit', 'pad-to-longest', 'pad-to-context'];

/** A seeded LCG in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** The synthetic conversations (see the file comment); the same every run. */
function conversations(): SFTSequence[] {
  const random = lcg(2024);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: CONVERSATIONS }, () => {
    const length = Math.min(CONTEXT, Math.max(16, Math.round(64 * Math.exp(0.6 * normal()))));
    const prompt = Math.floor(length * (0.3 + 0.5 * random()));
    const ids = Int32Array.from({ length }, () => Math.floor(random() * 256));
    const targets = Int32Array.from({ length }, (_, t) =>
      t + 1 < length && t + 1 >= prompt ? ids[t + 1] : IGNORE_INDEX,
    );
    return { ids, targets };
  });
}

interface LayoutResult {
  backend: string;
  packing: SFTPacking;
  rows: number;
  paddingFraction: number;
  slotsPerEpoch: number;
  tokensPerSecond: number;
  msPerStep: number;
  realTokensPerStep: number;
  epochSeconds: number;
  lastLoss: number;
}

/** One layout's model, optimizer and data, stepped in turn with the others. */
class Runner {
  readonly dataset: SFTDataset;
  readonly #model: GPT;
  readonly #optimizer: AdamW;
  readonly #objective = languageModelObjective();
  ms = 0;
  tokens = 0;
  steps = 0;
  lastLoss = Number.NaN;

  constructor(
    readonly backend: Backend,
    readonly packing: SFTPacking,
    data: SFTSequence[],
  ) {
    manualSeed(0);
    this.#model = new GPT(MODEL, { backend });
    this.#optimizer = new AdamW(this.#model.namedParameters(), { lr: 1e-3 });
    this.dataset = new SFTDataset(data, { batchSize: BATCH, contextLength: CONTEXT, packing, seed: 1 });
  }

  /** One training step (batch upload to loss read-back), added to the totals when `timed`. */
  async step(timed: boolean): Promise<void> {
    const batch = this.dataset.next();
    const start = performance.now();
    const out = trainStep(this.#model, this.#optimizer, [batch], this.#objective, { gradClip: 1 });
    this.lastLoss = await out.loss.item();
    for (const t of [out.loss, out.weight, out.gradNorm, ...Object.values(out.metrics)]) t.dispose();
    if (!timed) return;
    this.ms += performance.now() - start;
    this.tokens += nonPaddingTokens(batch);
    this.steps++;
  }

  result(): LayoutResult {
    const tokensPerSecond = this.tokens / (this.ms / 1000);
    const { stats } = this.dataset;
    return {
      backend: this.backend.name,
      packing: this.packing,
      rows: stats.rows,
      paddingFraction: stats.paddingFraction,
      slotsPerEpoch: stats.slots,
      tokensPerSecond,
      msPerStep: this.ms / this.steps,
      realTokensPerStep: this.tokens / this.steps,
      epochSeconds: stats.tokens / tokensPerSecond,
      lastLoss: this.lastLoss,
    };
  }

  dispose(): void {
    this.#model.dispose();
  }
}

/** The layouts on one backend, their steps interleaved (so changes of machine load hit all of them alike). */
async function measure(
  backend: Backend,
  data: SFTSequence[],
  warmup: number,
  steps: number,
): Promise<LayoutResult[]> {
  const runners = LAYOUTS.map((packing) => new Runner(backend, packing, data));
  try {
    for (let i = 0; i < warmup; i++) for (const r of runners) await r.step(false);
    for (let i = 0; i < steps; i++) for (const r of runners) await r.step(true);
    return runners.map((r) => r.result());
  } finally {
    for (const r of runners) r.dispose();
  }
}

async function runSuite(): Promise<void> {
  const backends = (process.env.BENCH_SFT_BACKENDS ?? 'webgpu').split(',').map((b) => b.trim());
  const steps = Number(process.env.BENCH_SFT_STEPS ?? 8);
  const warmup = Number(process.env.BENCH_SFT_WARMUP ?? 2);
  const loadStart = loadavg()[0];
  const data = conversations();
  const lengths = data.map((s) => s.ids.length).sort((a, b) => a - b);
  const total = lengths.reduce((a, b) => a + b, 0);
  console.log(
    `${CONVERSATIONS} synthetic conversations, lengths median ${lengths[lengths.length >> 1]}, mean ${(total / lengths.length).toFixed(0)}, ` +
      `max ${lengths[lengths.length - 1]} tokens (${total} in all); GPT-2 family ${MODEL.nLayers} layers, d ${MODEL.dModel}, ` +
      `context ${CONTEXT}; ${BATCH} rows per step, AdamW; ${warmup} warm-up + ${steps} timed steps per layout.\n`,
  );
  const results: LayoutResult[] = [];
  const errors: string[] = [];
  for (const name of backends) {
    let backend: Backend;
    try {
      backend = await initBackend(name as 'webgpu' | 'cpu');
    } catch (error) {
      errors.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      const start = performance.now();
      results.push(...(await measure(backend, data, warmup, steps)));
      console.log(`${name}: done in ${((performance.now() - start) / 1000).toFixed(0)} s`);
    } catch (error) {
      errors.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
    if (name === 'webgpu') await destroyBackend('webgpu');
  }
  console.log(
    '\nReal (non-padding) tokens per second; "slots/epoch" is the token positions an epoch computes (padding included),\n' +
      'the load-independent measure of the work packing saves; "epoch s" = real tokens of an epoch ÷ tokens/s:\n',
  );
  printTable(
    [
      'backend',
      'layout',
      'rows/epoch',
      'slots/epoch',
      'padding',
      'real tokens/step',
      'ms/step',
      'tokens/s',
      '÷ pad-to-longest',
      'epoch s',
    ],
    results.map((r) => {
      const base = results.find((b) => b.backend === r.backend && b.packing === 'pad-to-longest');
      return [
        r.backend,
        r.packing,
        String(r.rows),
        String(r.slotsPerEpoch),
        `${(100 * r.paddingFraction).toFixed(1)}%`,
        r.realTokensPerStep.toFixed(0),
        r.msPerStep.toFixed(0),
        r.tokensPerSecond.toFixed(0),
        base ? `${(r.tokensPerSecond / base.tokensPerSecond).toFixed(2)}×` : 'n/a',
        r.epochSeconds.toFixed(0),
      ];
    }),
  );
  const loadAfter = printErrorsAndLoad(errors, loadStart);
  writeResults('sft-packing', {
    results,
    errors,
    loadStart,
    loadAfter,
    lengths: { total, count: lengths.length },
  });
}

const suite: Suite = { name: 'sft-packing', run: runSuite };
export default suite;
