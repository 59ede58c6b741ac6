// The seams together: one trainStep of a real GPT on a packed row (two documents side by side,
// told apart by segment ids, with masked targets) lands on the same weights and loss as the
// step over the two documents as separate micro-batches of uneven target counts. That needs
// block-diagonal attention, positions restarting per document, and weight-averaged
// accumulation, all at once; GPT-2 (learned positions) and Llama (RoPE), cpu and webgpu.
import { type Backend, destroyBackend, init, initBackend, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchInput, hostTensor, languageModelObjective, SGD, trainStep } from '../src/index.js';

let gpu: Backend | undefined;
try {
  gpu = await initBackend('webgpu');
} catch {
  console.warn('[kiln] no WebGPU adapter: the packed-step test runs on cpu only');
}
let cpu: Backend;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  cpu = await initBackend('cpu');
});
afterAll(async () => {
  if (gpu) await destroyBackend('webgpu');
});

/** Tokens of two documents and their next-token targets inside each document (−100 at the end and at "prompt" tokens). */
const docs = [
  { ids: [11, 42, 7, 99, 3, 250], promptTokens: 3 },
  { ids: [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], promptTokens: 1 },
];
const targetsOf = (d: (typeof docs)[number]) =>
  d.ids.map((_, t) => (t < d.promptTokens || t === d.ids.length - 1 ? -100 : d.ids[t + 1]));

const int = (values: number[]) => hostTensor(Int32Array.from(values), [1, values.length]);
const packed: BatchInput = {
  ids: int(docs.flatMap((d) => d.ids)),
  targets: int(docs.flatMap(targetsOf)),
  segments: int(docs.flatMap((d, i) => d.ids.map(() => i))),
};
const separate: BatchInput[] = docs.map((d) => ({ ids: int(d.ids), targets: int(targetsOf(d)) }));

/** Loss and weights after one SGD step from the same initial model. */
async function step(family: 'gpt2' | 'llama', backend: Backend, batches: BatchInput[]) {
  manualSeed(9);
  const model = new GPT(GPT.config(family === 'gpt2' ? 'gpt2-tiny' : 'llama-tiny'), { backend });
  const sgd = new SGD(model.namedParameters(), { lr: 0.5 });
  const result = trainStep(model, sgd, batches, languageModelObjective());
  const loss = await result.loss.item();
  const weight = await result.weight.item();
  const weights = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data())));
  for (const t of [result.loss, result.weight, result.gradNorm]) t.dispose();
  model.dispose();
  return { loss, weight, weights };
}

describe.each(['gpt2', 'llama'] as const)('%s', (family) => {
  it.each([
    ['cpu', 1e-5],
    ['webgpu', 1e-4],
  ] as const)('a packed step equals the step over its documents as micro-batches (%s)', async (name, tol) => {
    const backend = name === 'cpu' ? cpu : gpu;
    if (!backend) return;
    const a = await step(family, backend, [packed]);
    const b = await step(family, backend, separate);
    expect(a.weight).toBe(2 + 8); // target tokens: 2 in the first document, 8 in the second
    expect(b.weight).toBe(a.weight);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(tol);
    let worst = 0;
    a.weights.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j] - b.weights[i][j]));
    });
    expect(worst).toBeLessThan(tol);
    // and the step did something: the weights moved
    manualSeed(9);
    const initial = new GPT(GPT.config(family === 'gpt2' ? 'gpt2-tiny' : 'llama-tiny'), { backend });
    const before = Array.from(await initial.parameters()[0].data());
    initial.dispose();
    expect(before.some((v, j) => Math.abs(v - a.weights[0][j]) > 1e-4)).toBe(true);
  });
});
