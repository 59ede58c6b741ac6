// LoRA through the optimizers and the Trainer: after applyLoRA, defaultParamGroups (the
// Trainer's default optimizer) holds the adapters only, so AdamW keeps state for them alone
// (2 float32 moments per adapter element), the frozen base gets no gradient and never moves,
// and a LoRA run resumes from its checkpoint exactly. On cpu, and the optimizer on webgpu too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backward } from '@kiln/autograd';
import { type Backend, init, initBackend, manualSeed, tensor } from '@kiln/tensor';
import { applyLoRA, GPT, loraParameters } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, defaultParamGroups, TokenDataset, type TrainConfigInput, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-lora-'));
let gpu: Backend | null = null;
try {
  gpu = await initBackend('webgpu');
} catch {
  gpu = null;
}
beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const { tokens, vocabSize } = denseTokens(mobyDickBytes(3000));
const contextLength = 16;

function makeModel(seed: number, backend?: Backend): GPT {
  manualSeed(seed);
  return new GPT(
    {
      family: 'llama',
      vocabSize,
      contextLength,
      nLayers: 2,
      nHeads: 2,
      nKvHeads: 1,
      dModel: 16,
      dropout: 0.1,
    },
    { backend },
  );
}

async function values(model: GPT): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, p] of model.namedParameters()) out.set(name, Array.from(await p.data()));
  return out;
}

const backends = [['cpu', undefined] as const, ...(gpu ? [['webgpu', gpu] as const] : [])];

describe.each(backends)('AdamW on a LoRA model (%s)', (_name, backend) => {
  it('holds and updates the adapters only: optimizer state bytes are 2 × 4 × adapter elements', async () => {
    const model = makeModel(0, backend ?? undefined);
    const fullGroups = defaultParamGroups(model, { weightDecay: 0.1 });
    const fullCount = fullGroups.flatMap((g) => g.params).length;
    const info = applyLoRA(model, { rank: 2, alpha: 4, targets: ['q', 'v', 'o', 'down'], seed: 1 });
    const optimizer = new AdamW(defaultParamGroups(model, { weightDecay: 0.1 }), { lr: 1e-2 });
    const adapterNames = loraParameters(model).map(([n]) => n);
    expect(
      optimizer
        .namedParameters()
        .map(([n]) => n)
        .sort(),
    ).toEqual([...adapterNames].sort());
    expect(adapterNames.length).toBeLessThan(fullCount);
    const before = await values(model);
    const ids = tensor([Array.from(tokens.subarray(0, contextLength))], {
      dtype: 'int32',
      backend: model.backend,
    });
    const targets = tensor([Array.from(tokens.subarray(1, contextLength + 1))], {
      dtype: 'int32',
      backend: model.backend,
    });
    for (let step = 0; step < 2; step++) {
      const { logits, loss } = model.forward(ids, targets);
      backward(loss!);
      for (const [n, p] of model.namedParameters())
        expect(p.grad === null, n).toBe(!adapterNames.includes(n));
      optimizer.step();
      optimizer.zeroGrad();
      logits.dispose();
      loss!.dispose();
    }
    const state = optimizer.stateDict().tensors;
    expect(Object.keys(state).every((k) => adapterNames.some((n) => k.startsWith(`${n}.`)))).toBe(true);
    const bytes = Object.values(state).reduce((n, t) => n + t.size * 4, 0);
    expect(bytes).toBe(2 * 4 * info.trainableParams);
    const after = await values(model);
    for (const [n, v] of before) {
      if (adapterNames.includes(n)) continue;
      expect(after.get(n), n).toEqual(v); // frozen: bit for bit
    }
    // B starts at zero and must have moved
    const b = adapterNames.find((n) => n.endsWith('.B'))!;
    expect(after.get(b)!.some((x) => x !== 0)).toBe(true);
    ids.dispose();
    targets.dispose();
    model.dispose();
  });
});

describe('Trainer with LoRA', () => {
  const config: TrainConfigInput = {
    steps: 6,
    batchSize: 4,
    logInterval: 1,
    evalInterval: 6,
    evalWindows: 4,
    checkpointInterval: 3,
    schedule: { kind: 'constant', lr: 2e-2 },
  };
  const data = new TokenDataset(tokens, { contextLength });
  const lora = (seed: number) => {
    const model = makeModel(seed);
    applyLoRA(model, { rank: 4, alpha: 8, dropout: 0.1, targets: 'all-linear', seed: 5 });
    return model;
  };

  it('trains the adapters with the default optimizer and resumes a LoRA run exactly', async () => {
    const straightLosses: number[] = [];
    const straight = new Trainer({
      model: lora(0),
      data,
      config,
      outDir: join(root, 'straight'),
      progress: false,
      callbacks: { onLog: (i) => void straightLosses.push(i.loss) },
    });
    const base = await values(makeModel(0));
    await straight.train();
    const trained = await values(straight.model as GPT);
    const adapters = new Set(loraParameters(straight.model as GPT).map(([n]) => n));
    for (const [n, v] of base) expect(trained.get(n), n).toEqual(v); // the base never moved
    expect(straightLosses.at(-1)!).toBeLessThan(straightLosses[0]);
    expect(
      Object.keys(straight.optimizer.stateDict().tensors).every((k) =>
        adapters.has(k.replace(/\.[^.]+$/, '')),
      ),
    ).toBe(true);

    const stop = new AbortController();
    const first = new Trainer({
      model: lora(0),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
      signal: stop.signal,
      callbacks: { onStep: (i) => (i.step === 3 ? stop.abort() : undefined) },
    });
    await first.train();
    const secondLosses: number[] = [];
    const second = new Trainer({
      model: lora(0),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
      callbacks: { onLog: (i) => void secondLosses.push(i.loss) },
    });
    expect((await second.resume())?.step).toBe(3);
    await second.train();
    expect(secondLosses).toEqual(straightLosses.slice(3));
    expect(await values(second.model as GPT)).toEqual(trained);
  });
});
