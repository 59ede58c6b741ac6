// Mixed precision (precision: 'mixed-float16'): the loss scaler's rules, the trainer's skipped
// steps (a real float16 overflow: a scale of 2^16 is infinite as a float16 gradient seed),
// training that tracks float32, float32 masters and moments, and exact resume with the scaler.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, destroyBackend, full, init, initBackend, manualSeed, Tensor } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AdamW,
  DeviceLossScaler,
  Float16Weights,
  LOSS_SCALE_DEFAULTS,
  LossScaler,
  languageModelObjective,
  MIN_LOSS_SCALE,
  readMetrics,
  requireFloat16,
  resolveTrainConfig,
  type SkippedStepInfo,
  TokenDataset,
  type TrainConfigInput,
  Trainer,
  tokenBatchInput,
  trainStepMixed,
} from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(3000));
const contextLength = 16;
const data = new TokenDataset(tokens, { contextLength });
const root = mkdtempSync(join(tmpdir(), 'kiln-mixed-'));

let gpu: Backend | undefined;
let skipReason = '';
try {
  gpu = await initBackend('webgpu');
} catch (error) {
  skipReason = `no WebGPU adapter (${(error as Error).message.split('\n')[0]})`;
}

function makeModel(seed: number, dropout = 0, backend?: Backend): GPT {
  manualSeed(seed);
  return new GPT(
    { family: 'gpt2', vocabSize, contextLength, nLayers: 1, nHeads: 2, dModel: 16, dropout },
    { backend },
  );
}

/** Logged losses, gradient norms and the final validation loss of a 10-step run. */
async function run(precision: 'float32' | 'mixed-float16', backend?: Backend, extra: TrainConfigInput = {}) {
  const got: number[] = [];
  const norms: number[] = [];
  const trainer = new Trainer({
    model: makeModel(0, 0, backend),
    data,
    config: { ...base, precision, ...extra },
    progress: false,
    callbacks: {
      onLog: (i) => {
        got.push(i.loss);
        norms.push(i.gradNorm);
      },
    },
  });
  const result = await trainer.train();
  return { got, norms, trainer, valLoss: result.validation!.loss };
}

/** Every step's loss, and the final validation loss, within 1% of the float32 run's. */
function expectWithinOnePercent(
  mixed: { got: number[]; valLoss: number },
  f32: { got: number[]; valLoss: number },
): void {
  expect(mixed.got).toHaveLength(f32.got.length);
  for (let i = 0; i < f32.got.length; i++) expect(Math.abs(mixed.got[i] / f32.got[i] - 1)).toBeLessThan(0.01);
  expect(Math.abs(mixed.valLoss / f32.valLoss - 1)).toBeLessThan(0.01);
  expect(mixed.got[mixed.got.length - 1]).toBeLessThan(mixed.got[0] - 0.3); // it learned
  expect(mixed.got).not.toEqual(f32.got); // float16 rounding changed the numbers: it is not the float32 path
  // Step 1 starts from the same weights: its unscaled gradient norm is float32's, to float16 rounding.
  expect(Math.abs(mixed.norms[0] / f32.norms[0] - 1)).toBeLessThan(0.01);
}

async function weights(model: GPT): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) out[name] = Array.from(await p.data());
  return out;
}

const base: TrainConfigInput = {
  steps: 10,
  batchSize: 4,
  logInterval: 1,
  evalInterval: 100,
  evalWindows: 4,
  schedule: { kind: 'cosine', maxLr: 1e-2, minLr: 1e-3, warmupSteps: 2 },
};

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (gpu) await destroyBackend('webgpu');
});

describe('LossScaler', () => {
  it('skips and backs off on overflow, grows after growthInterval good steps, up to maxScale', () => {
    const s = new LossScaler({
      initScale: 8,
      growthFactor: 2,
      backoffFactor: 0.25,
      growthInterval: 3,
      maxScale: 32,
    });
    expect(s.update(false)).toEqual({ skipped: false, scale: 8, nextScale: 8 });
    expect(s.update(false)).toEqual({ skipped: false, scale: 8, nextScale: 8 });
    expect(s.update(false)).toEqual({ skipped: false, scale: 8, nextScale: 16 }); // third good step
    expect(s.update(false).nextScale).toBe(16);
    // An overflow resets the run of good steps.
    expect(s.update(true)).toEqual({ skipped: true, scale: 16, nextScale: 4 });
    expect(s.skippedSteps).toBe(1);
    expect([s.update(false), s.update(false)].map((u) => u.nextScale)).toEqual([4, 4]);
    expect(s.update(false).nextScale).toBe(8);
    for (let i = 0; i < 9; i++) s.update(false);
    expect(s.scale).toBe(32); // 8 → 16 → 32, then capped
    expect(s.state()).toEqual({ scale: 32, goodSteps: 0, skippedSteps: 1 });
  });

  it('restores its state exactly and refuses a malformed one', () => {
    const a = new LossScaler({ initScale: 4, growthInterval: 2, maxScale: 64 });
    a.update(false);
    a.update(true);
    a.update(false);
    const b = new LossScaler({ initScale: 4, growthInterval: 2, maxScale: 64 });
    b.restore(a.state());
    expect(b.state()).toEqual(a.state());
    expect(b.update(false)).toEqual(a.update(false)); // same decision: the good-step count came along
    expect(() => b.restore({ scale: -1, goodSteps: 0, skippedSteps: 0 })).toThrow(/scale > 0/);
    expect(b.state()).toEqual(a.state());
  });

  it('gives up naming the cause when the scale would fall below 2^-24', () => {
    const s = new LossScaler({ initScale: MIN_LOSS_SCALE * 2, maxScale: 1 });
    s.update(true);
    expect(() => s.update(true)).toThrow(/overflow even at scale .*forward pass itself overflows float16/);
  });

  it('validates its settings, naming the key', () => {
    expect(() => new LossScaler({ growthFactor: 1 })).toThrow(/growthFactor must be a finite number > 1/);
    expect(() => new LossScaler({ backoffFactor: 1 })).toThrow(/backoffFactor must be in \(0, 1\)/);
    expect(() => new LossScaler({ growthInterval: 0.5 })).toThrow(/growthInterval must be an integer/);
    expect(() => new LossScaler({ initScale: 2 ** 16 })).toThrow(/initScale 65536 is above maxScale 32768/);
    expect(() => resolveTrainConfig({ precision: 'bf16' as never })).toThrow(
      /precision must be 'float32' or 'mixed-float16', got "bf16"/,
    );
    expect(() => resolveTrainConfig({ lossScale: { init: 2 } as never })).toThrow(
      /train config: lossScale: unknown key\(s\) init/,
    );
    expect(resolveTrainConfig({}).lossScale).toEqual(LOSS_SCALE_DEFAULTS);
  });
});

describe('DeviceLossScaler', () => {
  it('follows LossScaler.update on the device, reading back only in sync()', async () => {
    const config = { initScale: 8, growthFactor: 2, backoffFactor: 0.5, growthInterval: 3, maxScale: 16 };
    const host = new LossScaler(config);
    const device = new DeviceLossScaler(full([], 0).backend, config);
    const flags = [false, false, false, false, true, false, false, false, false, false, false, true, true];
    const scales: number[] = [];
    for (const flag of flags) {
      const s = device.scaleTensor();
      scales.push((await s.data())[0]);
      s.dispose();
      expect(scales.at(-1)).toBe(host.scale);
      host.update(flag);
      const found = full([], flag ? 1 : 0, { dtype: 'float32' });
      device.update(found);
      found.dispose();
    }
    expect(() => device.state()).toThrow(/await sync\(\) first/);
    expect(await device.sync()).toEqual(host.state());
    device.restore({ scale: 4, goodSteps: 2, skippedSteps: 7 });
    expect(device.state()).toEqual({ scale: 4, goodSteps: 2, skippedSteps: 7 });
    device.dispose();
  });
});

/**
 * Three steps of trainStepMixed, directly: a real one, an overflowing one (checked to change
 * nothing and to read nothing back), and a real one. Returns the reads during the skipped step
 * and the final weights. `syncAfterSkip: false` leaves the skip unread before the third step, so
 * its bias corrections come from the device's step count, not the host's.
 */
async function skipWithoutReadback(backend?: Backend, syncAfterSkip = true) {
  const model = makeModel(3, 0, backend);
  const optimizer = new AdamW(model.namedParameters(), { lr: 1e-2 });
  const be = model.parameters()[0].backend;
  const scaler = new DeviceLossScaler(be, { initScale: 2 ** 10, maxScale: 2 ** 16 });
  const f16 = new Float16Weights(model);
  const objective = languageModelObjective();
  const batch = () => [tokenBatchInput(data.batchAt([0, 1]))];
  const moments = async () => {
    const out: Record<string, number[]> = {};
    for (const [k, t] of Object.entries(optimizer.stateDict().tensors)) out[k] = Array.from(await t.data());
    return out;
  };
  const step = async () => {
    const r = await trainStepMixed(model, optimizer, batch(), objective, {
      scaler,
      weights: f16,
      gradClip: 1,
    });
    return r;
  };
  const read = async (r: Awaited<ReturnType<typeof step>>) => {
    const v = { skipped: (await r.skipped.data())[0], lossScale: (await r.lossScale.data())[0] };
    for (const t of [r.loss, r.weight, r.gradNorm, r.skipped, r.lossScale]) t.dispose();
    return v;
  };
  expect(await read(await step())).toEqual({ skipped: 0, lossScale: 2 ** 10 }); // a real step: moments ≠ 0
  expect(await optimizer.syncStepCount()).toBe(1);
  const before = { weights: await weights(model), moments: await moments() };
  expect(Object.values(before.moments).some((m) => m.some((x) => x !== 0))).toBe(true);
  // 2^16 is infinite as a float16 seed: this step overflows for real
  scaler.restore({ scale: 2 ** 16, goodSteps: 0, skippedSteps: 0 });
  const reads = vi.spyOn(Tensor.prototype, 'data');
  const skipped = await step();
  const readsDuringStep = reads.mock.calls.length;
  reads.mockRestore();
  expect(await read(skipped)).toEqual({ skipped: 1, lossScale: 2 ** 16 });
  expect(await weights(model)).toEqual(before.weights);
  if (syncAfterSkip) {
    expect(await optimizer.syncStepCount()).toBe(1); // not advanced: bias correction as if it never ran
    expect(await moments()).toEqual(before.moments);
    expect(await scaler.sync()).toEqual({ scale: 2 ** 15, goodSteps: 0, skippedSteps: 1 });
  }
  // and the next step (scale 2^15, finite) trains again
  expect(await read(await step())).toEqual({ skipped: 0, lossScale: 2 ** 15 });
  expect(await optimizer.syncStepCount()).toBe(2);
  const after = await weights(model);
  expect(after).not.toEqual(before.weights);
  f16.dispose();
  scaler.dispose();
  optimizer.dispose();
  return { readsDuringStep, before: before.weights, after };
}

/** max |a − b| over every weight, divided by max |b − from| (the size of the last step's change). */
function relativeToStep(
  a: Record<string, number[]>,
  b: Record<string, number[]>,
  from: Record<string, number[]>,
): number {
  let [diff, change] = [0, 0];
  for (const [k, xs] of Object.entries(b))
    xs.forEach((x, i) => {
      diff = Math.max(diff, Math.abs(a[k][i] - x));
      change = Math.max(change, Math.abs(x - from[k][i]));
    });
  return diff / change;
}

describe("precision: 'mixed-float16' on the CPU (float16 emulated by rounding)", () => {
  it('tracks the float32 run within 1% of the loss, keeping float32 masters and AdamW moments', async () => {
    const f32 = await run('float32');
    const mixed = await run('mixed-float16');
    expectWithinOnePercent(mixed, f32);
    expect(mixed.trainer.lossScaler?.skippedSteps).toBe(0);
    const model = mixed.trainer.model as GPT;
    expect(model.parameters().every((p) => p.dtype === 'float32')).toBe(true);
    const state = mixed.trainer.optimizer.stateDict();
    expect(state.step).toBe(10);
    expect(Object.values(state.tensors).every((t) => t.dtype === 'float32')).toBe(true);
  });

  it('accumulates micro-batches by weight like float32 (gradAccum 2)', async () => {
    const f32 = await run('float32', undefined, { gradAccum: 2, batchSize: 2 });
    const mixed = await run('mixed-float16', undefined, { gradAccum: 2, batchSize: 2 });
    expectWithinOnePercent(mixed, f32);
  });

  it('skips an overflowing step on the device: weights and moments untouched, nothing read back', async () => {
    const synced = await skipWithoutReadback();
    expect(synced.readsDuringStep).toBe(0);
    // the step after an unread skip takes its bias corrections from the device's count (2, not
    // the host's guess 3): on the CPU the same double-precision arithmetic, so the same bits
    const unsynced = await skipWithoutReadback(undefined, false);
    expect(unsynced.after).toEqual(synced.after);
  });

  it('skips an overflowing step (logged with its scale), backs off, then trains', async () => {
    // 2^16 is infinite as a float16 number, so the first step's gradients overflow for real.
    const outDir = join(root, 'skip');
    const before = makeModel(1);
    const initial = await weights(before);
    const skips: SkippedStepInfo[] = [];
    const trainer = new Trainer({
      model: before,
      data,
      config: {
        ...base,
        steps: 3,
        precision: 'mixed-float16',
        lossScale: { initScale: 2 ** 16, maxScale: 2 ** 16 },
      },
      outDir,
      progress: false,
      callbacks: { onSkippedStep: (info) => void skips.push(info) },
    });
    await trainer.train();
    // decided on the device, reported at the read-back: step 1 only, with its scales
    expect(skips).toEqual([{ step: 1, lossScale: 65536, nextLossScale: 32768 }]);
    expect(trainer.optimizer.stepCount).toBe(2); // the skipped step did not count for bias correction
    expect(trainer.lossScaler!.state()).toEqual({ scale: 2 ** 15, goodSteps: 2, skippedSteps: 1 });
    const records = await readMetrics(join(outDir, 'metrics.jsonl'));
    const skipped = records.filter((r) => r.event === 'skipped-step');
    expect(skipped).toEqual([expect.objectContaining({ step: 1, lossScale: 65536, nextLossScale: 32768 })]);
    const logged = records.filter((r) => r.event === undefined && r.loss !== undefined);
    expect(logged.map((r) => r.lossScale)).toEqual([65536, 32768, 32768]);
    // A skipped step leaves the weights as they were: train one step only and compare.
    const once = new Trainer({
      model: makeModel(1),
      data,
      config: {
        ...base,
        steps: 1,
        schedule: { kind: 'constant', lr: 1e-2 },
        precision: 'mixed-float16',
        lossScale: { initScale: 2 ** 16, maxScale: 2 ** 16 },
      },
      progress: false,
    });
    await once.train();
    expect(await weights(once.model as GPT)).toEqual(initial);
  });

  it('resumes exactly, scaler state included (growth and a skip on both sides of the checkpoint)', async () => {
    // Scale 2^14, growing every 2 good steps up to 2^16: 2^16 overflows, so the run grows,
    // skips and backs off; the checkpoint at step 3 sits between a growth and the next.
    const config: TrainConfigInput = {
      ...base,
      steps: 8,
      checkpointInterval: 3,
      precision: 'mixed-float16',
      lossScale: { initScale: 2 ** 14, growthInterval: 2, maxScale: 2 ** 16 },
    };
    const scales = async (outDir: string) =>
      (await readMetrics(join(outDir, 'metrics.jsonl')))
        .filter((r) => r.event === undefined && r.loss !== undefined)
        .map((r) => r.lossScale);
    const straight = new Trainer({
      model: makeModel(0, 0.2),
      data,
      config,
      outDir: join(root, 'straight'),
      progress: false,
    });
    await straight.train();
    const straightScales = await scales(join(root, 'straight'));
    expect(straightScales).toEqual([16384, 16384, 32768, 32768, 65536, 32768, 32768, 65536]);
    expect(straight.lossScaler!.skippedSteps).toBe(2);

    const stop = new AbortController();
    const first = new Trainer({
      model: makeModel(0, 0.2),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
      signal: stop.signal,
      callbacks: { onStep: (i) => (i.step === 3 ? stop.abort() : undefined) },
    });
    await first.train();
    const saved = JSON.parse(
      readFileSync(join(root, 'resumed', 'checkpoints', 'step-00000003', 'trainer-state.json'), 'utf8'),
    );
    expect(saved.lossScale).toEqual({ scale: 32768, goodSteps: 1, skippedSteps: 0 });

    manualSeed(987654);
    const second = new Trainer({
      model: makeModel(42, 0.2),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
    });
    expect((await second.resume())?.step).toBe(3);
    expect(second.lossScaler!.state()).toEqual(saved.lossScale);
    await second.train();
    expect(await scales(join(root, 'resumed'))).toEqual(straightScales);
    expect(await weights(second.model as GPT)).toEqual(await weights(straight.model as GPT));
    expect(second.lossScaler!.state()).toEqual(straight.lossScaler!.state());
    expect(second.optimizer.stepCount).toBe(straight.optimizer.stepCount);
  });

  it('refuses a model whose trainable weights are not float32 (there would be no masters)', () => {
    const model = makeModel(0).to('float16');
    expect(
      () => new Trainer({ model, data, config: { ...base, precision: 'mixed-float16' }, progress: false }),
    ).toThrow(/keeps float32 master weights, but parameter 'tokenEmbedding.weight' is float16/);
    model.dispose();
  });

  it('names the missing shader-f16 feature on a backend that cannot store float16', () => {
    const noF16 = {
      name: 'webgpu',
      info: { device: 'some adapter', dtypes: ['float32', 'int32'] },
    } as unknown as Backend;
    expect(() => requireFloat16(noF16, 'the weights')).toThrow(
      /the webgpu backend cannot store float16 \(this WebGPU adapter, some adapter, does not offer the 'shader-f16' feature\).*precision 'float32'/,
    );
  });
});

describe.skipIf(!gpu)(
  `precision: 'mixed-float16' on WebGPU${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('has shader-f16 here, and tracks the float32 run within 1% of the loss', async () => {
      expect(gpu!.info.features).toContain('shader-f16');
      const f32 = await run('float32', gpu);
      const mixed = await run('mixed-float16', gpu);
      expectWithinOnePercent(mixed, f32);
      expect(mixed.trainer.lossScaler?.skippedSteps).toBe(0);
      expect((mixed.trainer.model as GPT).parameters().every((p) => p.dtype === 'float32')).toBe(true);
    });

    it('skips an overflowing step on the device (fused AdamW kernel): weights and moments untouched, nothing read back', async () => {
      const synced = await skipWithoutReadback(gpu);
      expect(synced.readsDuringStep).toBe(0);
      // after an unread skip the bias corrections are computed on the device (float32 pow)
      const unsynced = await skipWithoutReadback(gpu, false);
      expect(relativeToStep(unsynced.after, synced.after, synced.before)).toBeLessThan(1e-3);
    });
  },
);
