// SFT through the trainer's seams with a real GPT (@kiln/transformer, a devDependency):
// - a training step on best-fit packed rows equals the step on the same conversations one per
//   padded row: the loss and every parameter's gradient, GPT-2 and Llama, cpu and webgpu;
// - the step's loss is the cross-entropy averaged over the assistant's tokens of all
//   micro-batches, checked against log-softmax computed here from the model's logits, and its
//   gradients equal those of the micro-batches' rows as one batch;
// - the Trainer fine-tunes on an SFTDataset and the held-out assistant loss falls.
import { noGrad } from '@kiln/autograd';
import { type Backend, destroyBackend, init, initBackend, manualSeed, scope, tensor } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchInput,
  evaluate,
  type HostTensor,
  IGNORE_INDEX,
  languageModelObjective,
  nonPaddingTokens,
  SFTDataset,
  type SFTPacking,
  Trainer,
  tokenizeChats,
  trainStep,
} from '../src/index.js';
import { byteTokenizer, CHATML_SPECIALS } from './helpers/chat-tokenizer.js';
import { GradCapture } from './helpers/grad-capture.js';

let gpu: Backend | undefined;
try {
  gpu = await initBackend('webgpu');
} catch {
  console.warn('[kiln] no WebGPU adapter: the SFT step tests run on cpu only');
}
let cpu: Backend;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  cpu = await initBackend('cpu');
});
afterAll(async () => {
  if (gpu) await destroyBackend('webgpu');
});

const tokenizer = await byteTokenizer(CHATML_SPECIALS);
const CONTEXT = 64;

/** Short arithmetic conversations of uneven lengths (some with a system turn). */
function conversations(count: number, offset = 0) {
  return Array.from({ length: count }, (_, i) => {
    const a = (i + offset) * 7 + 3;
    const b = (i + offset) % 5;
    const messages = [
      ...(i % 3 === 0 ? [{ role: 'system', content: 'sum' }] : []),
      { role: 'user', content: `${a}+${b}` },
      { role: 'assistant', content: String(a + b) },
    ];
    return { messages };
  });
}

const { sequences } = tokenizeChats(conversations(7), tokenizer, { maxLength: CONTEXT });

function gpt(family: 'gpt2' | 'llama', backend: Backend) {
  manualSeed(21);
  const base = GPT.config(family === 'gpt2' ? 'gpt2-tiny' : 'llama-tiny');
  return new GPT({ ...base, vocabSize: tokenizer.vocabSize, contextLength: CONTEXT }, { backend });
}

/** All of a dataset's rows as one batch. */
function oneBatch(packing: SFTPacking): BatchInput {
  const probe = new SFTDataset(sequences, { batchSize: 1, contextLength: CONTEXT, packing });
  const data = new SFTDataset(sequences, {
    batchSize: probe.rows.length,
    contextLength: CONTEXT,
    packing,
    shuffle: false,
  });
  return data.next();
}

async function step(family: 'gpt2' | 'llama', backend: Backend, batches: BatchInput[]) {
  const model = gpt(family, backend);
  const capture = new GradCapture(model.namedParameters());
  const out = trainStep(model, capture, batches, languageModelObjective());
  const result = {
    loss: await out.loss.item(),
    weight: await out.weight.item(),
    grads: await capture.read(),
  };
  for (const t of [out.loss, out.weight, out.gradNorm]) t.dispose();
  capture.dispose();
  model.dispose();
  return result;
}

/** The largest difference between two gradient sets, relative to the largest gradient entry. */
function worstGradDifference(a: Record<string, number[]>, b: Record<string, number[]>): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let scale = 0;
  for (const g of Object.values(b)) for (const v of g) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (const [name, g] of Object.entries(a)) {
    for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - b[name][i]));
  }
  expect(scale).toBeGreaterThan(0);
  return worst / scale;
}

describe.each(['gpt2', 'llama'] as const)('%s', (family) => {
  it.each([
    ['cpu', 1e-5],
    ['webgpu', 1e-4],
  ] as const)(
    'a step on packed rows equals the step on the conversations one per padded row (%s)',
    async (name, tol) => {
      const backend = name === 'cpu' ? cpu : gpu;
      if (!backend) return;
      const packed = oneBatch('best-fit');
      const unpacked = oneBatch('pad-to-longest');
      expect(packed.ids.shape[0]).toBeLessThan(unpacked.ids.shape[0]); // several conversations share rows
      expect(unpacked.ids.shape[0]).toBe(sequences.length);
      const a = await step(family, backend, [packed]);
      const b = await step(family, backend, [unpacked]);
      const trained = sequences.reduce((n, s) => n + s.trainedTokens, 0);
      expect(a.weight).toBe(trained);
      expect(b.weight).toBe(trained);
      expect(Number.isFinite(a.loss)).toBe(true);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(tol);
      expect(worstGradDifference(a.grads, b.grads)).toBeLessThan(tol);
    },
  );
});

/** Host log-softmax cross-entropy of one batch's trained targets: [sum, count]. */
async function referenceLossSum(
  model: GPT,
  batch: Required<Record<'ids' | 'targets' | 'segments' | 'positions' | 'padding', HostTensor>>,
) {
  const up = (t: HostTensor) => tensor(t.data, { shape: t.shape, dtype: t.dtype, backend: cpu });
  const logits = noGrad(() =>
    scope(() => {
      const { logits } = model.forward(up(batch.ids), {
        segments: up(batch.segments),
        positions: up(batch.positions),
        padding: up(batch.padding),
      });
      return logits;
    }),
  );
  const values = await logits.data();
  logits.dispose();
  const V = model.config.vocabSize;
  let sum = 0;
  let count = 0;
  batch.targets.data.forEach((target, i) => {
    if (target === IGNORE_INDEX) return;
    const row = values.subarray(i * V, (i + 1) * V);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    sum += max + Math.log(z) - row[target];
    count++;
  });
  return { sum, count };
}

describe('SFT loss over micro-batches', () => {
  it('is the cross-entropy averaged over every assistant token of the step, and its gradient that of one big batch', async () => {
    const data = new SFTDataset(sequences, {
      batchSize: 2,
      contextLength: CONTEXT,
      packing: 'pad-to-longest',
      shuffle: false,
    });
    const micro = [data.next(), data.next()];
    const counts = micro.map((b) => Array.from(b.targets.data).filter((t) => t !== IGNORE_INDEX).length);
    const reference = gpt('gpt2', cpu);
    reference.eval();
    const parts = [];
    for (const b of micro) parts.push(await referenceLossSum(reference, b));
    reference.dispose();
    expect(parts.map((p) => p.count)).toEqual(counts);
    const expected = (parts[0].sum + parts[1].sum) / (parts[0].count + parts[1].count);

    const accumulated = await step('gpt2', cpu, micro);
    expect(accumulated.weight).toBe(counts[0] + counts[1]);
    expect(Math.abs(accumulated.loss - expected)).toBeLessThan(1e-5);
    // the same four rows as one micro-batch (padded to the wider of the two)
    const together = new SFTDataset(sequences.slice(0, 4), {
      batchSize: 4,
      contextLength: CONTEXT,
      packing: 'pad-to-longest',
      shuffle: false,
    });
    const single = await step('gpt2', cpu, [together.next()]);
    expect(Math.abs(single.loss - accumulated.loss)).toBeLessThan(1e-5);
    expect(worstGradDifference(accumulated.grads, single.grads)).toBeLessThan(1e-5);
  });
});

describe('Trainer on an SFTDataset', () => {
  it('fine-tunes through the same loop; the held-out assistant loss falls', async () => {
    const trainSet = tokenizeChats(conversations(24), tokenizer, { maxLength: CONTEXT });
    const options = { batchSize: 4, contextLength: CONTEXT, seed: 3 };
    const train = new SFTDataset(trainSet, options);
    const heldOut = new SFTDataset(tokenizeChats(conversations(6, 100), tokenizer, { maxLength: CONTEXT }), {
      batchSize: 4,
      contextLength: CONTEXT,
    });
    const model = gpt('gpt2', cpu);
    const before = await evaluate(model, heldOut.batches());
    expect(before.weight).toBe(heldOut.stats.trainedTokens);
    const evals: number[] = [];
    const trainer = new Trainer({
      model,
      data: train,
      validation: () => heldOut.batches(),
      countTokens: nonPaddingTokens,
      config: {
        steps: 12,
        gradAccum: 2,
        evalInterval: 12,
        logInterval: 10,
        schedule: { kind: 'constant', lr: 3e-3 },
      },
      progress: false,
      callbacks: { onEval: ({ loss }) => void evals.push(loss) },
    });
    const result = await trainer.train();
    expect(evals[0]).toBeCloseTo(before.loss, 5);
    expect(result.validation!.loss).toBeLessThan(before.loss - 1);
    // the tokens counted are the real ones of the 24 micro-batches drawn, padding excluded
    const replay = new SFTDataset(trainSet, options);
    let real = 0;
    for (let i = 0; i < 24; i++) real += nonPaddingTokens(replay.next());
    expect(result.tokens).toBe(real);
    expect(real).toBeLessThan(24 * 4 * CONTEXT);
    expect(train.epoch).toBeCloseTo((24 * 4) / train.rows.length, 10);
    model.dispose();
  });
});
