// The optimizers and the loop on WebGPU agree with the CPU backend (skipped without an adapter).
import { readFileSync } from 'node:fs';
import { Parameter } from '@kiln/autograd';
import { type Backend, destroyBackend, init, initBackend, manualSeed, tensor } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, TokenDataset, Trainer } from '../src/index.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

let gpu: Backend | undefined;
let skipReason = '';
try {
  gpu = await initBackend('webgpu');
} catch (error) {
  skipReason = `no WebGPU adapter (${(error as Error).message.split('\n')[0]})`;
}

const golden = JSON.parse(readFileSync(new URL('./fixtures/optimizer-golden.json', import.meta.url), 'utf8'));

beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(async () => {
  if (gpu) await destroyBackend('webgpu');
});

describe.skipIf(!gpu)(`on WebGPU${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('AdamW matches PyTorch 1.13 on the GPU too', async () => {
    const c = golden.optimizers.find((g: { name: string }) => g.name === 'adamw');
    const params: Record<string, Parameter> = {};
    for (const k of ['weight', 'bias'])
      params[k] = new Parameter(tensor(c.init[k], { shape: c.shapes[k], backend: gpu }));
    const opt = new AdamW(
      ['weight', 'bias'].map((k) => ({ params: [[k, params[k]] as const], weightDecay: c.weightDecay[k] })),
      c.options,
    );
    for (let step = 0; step < 3; step++) {
      for (const k of ['weight', 'bias'])
        params[k].grad = tensor(c.grads[step][k], { shape: c.shapes[k], backend: gpu });
      opt.lr = c.lrs[step];
      opt.step();
      opt.zeroGrad();
    }
    for (const k of ['weight', 'bias']) {
      const got = Array.from(await params[k].data());
      got.forEach((v, i) => {
        expect(Math.abs(v - c.steps[2].params[k][i])).toBeLessThan(1e-5);
      });
    }
  });

  it('trains like the CPU backend for the first steps', async () => {
    const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
    const data = new TokenDataset(tokens, { contextLength: 16 });
    const losses = async (backend: Backend | undefined) => {
      manualSeed(0); // the counter-based RNG draws the same initial weights on both backends
      const model = new GPT(
        { family: 'gpt2', vocabSize, contextLength: 16, nLayers: 1, nHeads: 2, dModel: 16 },
        { backend },
      );
      const out: number[] = [];
      const trainer = new Trainer({
        model,
        data,
        progress: false,
        config: {
          steps: 5,
          batchSize: 4,
          logInterval: 1,
          evalWindows: 2,
          schedule: { kind: 'constant', lr: 1e-2 },
        },
        callbacks: { onLog: (info) => void out.push(info.loss) },
      });
      const { validation } = await trainer.train();
      model.dispose();
      return [...out, validation!.loss];
    };
    const onCpu = await losses(undefined);
    const onGpu = await losses(gpu);
    for (let i = 0; i < onCpu.length; i++) expect(Math.abs(onGpu[i] - onCpu[i])).toBeLessThan(1e-3);
  });
});
