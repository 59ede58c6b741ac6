// The Trainer over a generic BatchSource with a custom objective: exact resume (stop after 4
// steps, resume into fresh objects, compare with a straight run, bit for bit on the CPU),
// objective metrics and epochs in the log, validation through `validation`; a step whose
// targets are all ignored stops with an error naming it; and checkpoints written before
// sources were generic (version 1, a `sampler`) still resume a TokenDataset run exactly.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, Parameter } from '@kiln/autograd';
import { getRngState, init, manualSeed, rand, tensor } from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchInput,
  type BatchSource,
  CheckpointDir,
  hostTensor,
  type JsonValue,
  NonFiniteError,
  type Objective,
  readMetrics,
  TokenDataset,
  type TrainConfigInput,
  Trainer,
} from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-source-'));
beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const D = 4;
/** 12 preference pairs of 4 features, fixed. */
const PAIRS = Array.from({ length: 12 }, (_, i) => ({
  chosen: Array.from({ length: D }, (_, j) => Math.sin(i * 3 + j) + 0.3),
  rejected: Array.from({ length: D }, (_, j) => Math.cos(i * 2 - j) * 0.8),
}));
const SIZES = [2, 3, 1]; // micro-batches of uneven size, in turn

function pairsInput(list: typeof PAIRS): BatchInput {
  return {
    chosen: hostTensor(Float32Array.from(list.flatMap((p) => p.chosen)), [list.length, D]),
    rejected: hostTensor(Float32Array.from(list.flatMap((p) => p.rejected)), [list.length, D]),
  };
}

/** Cycles through PAIRS in micro-batches of 2, 3, 1, … pairs; resumable by its position. */
class PairSource implements BatchSource {
  #position = 0;
  #drawn = 0;

  get epoch(): number {
    return this.#position / PAIRS.length;
  }

  next(): BatchInput {
    const size = SIZES[this.#drawn++ % SIZES.length];
    const list = Array.from({ length: size }, (_, k) => PAIRS[(this.#position + k) % PAIRS.length]);
    this.#position += size;
    return pairsInput(list);
  }

  state(): JsonValue {
    return { position: this.#position, drawn: this.#drawn };
  }

  restore(state: JsonValue): void {
    const s = state as { position: number; drawn: number };
    if (!Number.isInteger(s?.position) || !Number.isInteger(s?.drawn)) {
      throw new TypeError(`PairSource.restore: expected { position, drawn }, got ${JSON.stringify(state)}`);
    }
    this.#position = s.position;
    this.#drawn = s.drawn;
  }
}

class Scorer extends Module {
  w: Parameter;
  constructor() {
    super();
    this.w = new Parameter(tensor([0.1, -0.2, 0.3, 0.05]));
  }
}

/** −log σ(margin) over pairs, with a little noise from the global RNG (so resume must restore it). */
const preference: Objective<Scorer> = (model, batch) => {
  const pairs = batch.chosen.shape[0];
  const noise = model.training ? rand([pairs]).sub(0.5).mul(0.1) : tensor(0);
  const margin = batch.chosen
    .sub(batch.rejected)
    .matmul(model.w.reshape([D, 1]))
    .reshape([pairs])
    .add(noise);
  return {
    loss: margin.neg().exp().add(1).log().mean(),
    weight: pairs,
    metrics: { accuracy: margin.gt(0).cast('float32').mean(), margin: margin.mean() },
  };
};

const config: TrainConfigInput = {
  steps: 8,
  gradAccum: 2,
  logInterval: 1,
  evalInterval: 4,
  checkpointInterval: 2,
  schedule: { kind: 'constant', lr: 0.05 },
};

function trainer(outDir: string, extra: { signal?: AbortSignal; onStep?: (step: number) => void } = {}) {
  const losses: number[] = [];
  const weights: number[] = [];
  const t = new Trainer({
    model: new Scorer(),
    data: new PairSource(),
    objective: preference,
    validation: () => [pairsInput(PAIRS.slice(0, 5)), pairsInput(PAIRS.slice(5, 12))],
    countTokens: (batch) => batch.chosen.shape[0],
    config,
    outDir,
    progress: false,
    signal: extra.signal,
    callbacks: {
      onLog: (info) => {
        losses.push(info.loss);
        weights.push(info.weight);
      },
      onStep: ({ step }) => extra.onStep?.(step),
    },
  });
  return { t, losses, weights };
}

describe('Trainer over a generic BatchSource', () => {
  it('resumes bit-identically to an uninterrupted run, logging the objective metrics and epochs', async () => {
    manualSeed(1);
    const straight = trainer(join(root, 'straight'));
    const straightResult = await straight.t.train();
    const straightW = Array.from(await straight.t.model.w.data());

    manualSeed(1);
    const stop = new AbortController();
    const first = trainer(join(root, 'resumed'), {
      signal: stop.signal,
      onStep: (step) => (step === 4 ? stop.abort() : undefined),
    });
    expect(await first.t.train()).toMatchObject({ step: 4, stopped: true });

    const rngAtStop = getRngState();
    manualSeed(4242); // a scrambled RNG, and fresh model, optimizer and source
    const second = trainer(join(root, 'resumed'));
    expect((await second.t.resume())?.step).toBe(4);
    expect(getRngState()).toEqual(rngAtStop);
    const secondResult = await second.t.train();

    // Micro-batches of 2+3, 1+2, 3+1, … pairs: the logged weight is the pairs of each step.
    expect(straight.weights).toEqual([5, 3, 4, 5, 3, 4, 5, 3]);
    expect([...first.losses, ...second.losses]).toEqual(straight.losses);
    expect([...first.weights, ...second.weights]).toEqual(straight.weights);
    expect(Array.from(await second.t.model.w.data())).toEqual(straightW);
    expect(secondResult.validation).toEqual(straightResult.validation);
    expect(straightResult.tokens).toBe(32); // countTokens: pairs
    expect(straightResult.validation).toMatchObject({ weight: 12, step: 8 });
    expect(straightResult.validation!.metrics).toHaveProperty('accuracy');

    const strip = (records: Record<string, unknown>[]) =>
      records.map(({ elapsedSeconds, tokensPerSecond, ...rest }) => rest);
    const a = await readMetrics(join(root, 'straight', 'metrics.jsonl'));
    const b = await readMetrics(join(root, 'resumed', 'metrics.jsonl'));
    expect(strip(b)).toEqual(strip(a));
    const step3 = a.find((r) => r.step === 3 && 'loss' in r)!;
    expect(Object.keys(step3).sort()).toEqual(
      [
        'accuracy',
        'elapsedSeconds',
        'epoch',
        'gradNorm',
        'loss',
        'lr',
        'margin',
        'step',
        'tokens',
        'tokensPerSecond',
      ].sort(),
    );
    expect(step3.epoch).toBe(12 / 12); // 5 + 3 + 4 pairs drawn
    expect(step3.tokens).toBe(12);
    const val = a.filter((r) => 'valLoss' in r);
    expect(val.map((r) => r.step)).toEqual([0, 4, 8]);
    expect(val[0]).toHaveProperty('valAccuracy');
    expect(val[0]).toHaveProperty('valMargin');

    const [latest] = (await new CheckpointDir(join(root, 'resumed', 'checkpoints')).list()).slice(-1);
    const state = JSON.parse(readFileSync(join(latest.path, 'trainer-state.json'), 'utf8'));
    expect(state).toMatchObject({ version: 2, step: 8, data: { position: 32, drawn: 16 } });
  });

  it('stops at a step whose targets are all ignored, naming it', async () => {
    const tokens = Int32Array.from({ length: 64 }, (_, i) => i % 10);
    let drawn = 0;
    const source: BatchSource = {
      next() {
        drawn++;
        const targets = Int32Array.from(tokens.subarray(0, 8), (t) => (drawn === 3 ? -100 : t));
        return { ids: hostTensor(tokens.slice(1, 9), [1, 8]), targets: hostTensor(targets, [1, 8]) };
      },
      state: () => drawn,
      restore: (s) => void (drawn = s as number),
    };
    manualSeed(2);
    const t = new Trainer({
      model: new TinyLM(10),
      data: source,
      progress: false,
      config: { steps: 5, logInterval: 1, schedule: { kind: 'constant', lr: 0.01 } },
    });
    const error = await t.train().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).step).toBe(3);
    expect((error as NonFiniteError).what).toEqual(['weight']);
    expect((error as Error).message).toMatch(
      /^training stopped at step 3: its micro-batches have a total weight of 0 \(every target is ignored\)/,
    );
    expect(t.tokensPerStep).toBe(8);
  });
});

describe('checkpoints from before generic sources', () => {
  it('resumes a TokenDataset run from a version-1 trainer state (sampler) exactly', async () => {
    const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
    const data = new TokenDataset(tokens, { contextLength: 8 });
    const cfg: TrainConfigInput = {
      steps: 6,
      batchSize: 4,
      logInterval: 1,
      evalInterval: 100,
      evalWindows: 2,
      checkpointInterval: 3,
      schedule: { kind: 'constant', lr: 0.02 },
    };
    const run = (outDir: string, signal?: AbortSignal, onStep?: (step: number) => void) => {
      manualSeed(3);
      const losses: number[] = [];
      const t = new Trainer({
        model: new TinyLM(vocabSize, 16, 0.1),
        data,
        config: cfg,
        outDir,
        progress: false,
        signal,
        callbacks: { onLog: (i) => void losses.push(i.loss), onStep: (i) => onStep?.(i.step) },
      });
      return { t, losses };
    };
    const straight = run(join(root, 'v1-straight'));
    await straight.t.train();

    const stop = new AbortController();
    const first = run(join(root, 'v1'), stop.signal, (step) => (step === 3 ? stop.abort() : undefined));
    await first.t.train();
    // Rewrite the step-3 state as version 1 wrote it, and its manifest as version 1 wrote it.
    const dir = new CheckpointDir(join(root, 'v1', 'checkpoints'));
    const checkpoint = (await dir.latest())!;
    const statePath = join(checkpoint.path, 'trainer-state.json');
    const { data: sampler, ...state } = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(sampler).toEqual({ seed: 1337, counter: 12 });
    writeFileSync(statePath, `${JSON.stringify({ ...state, version: 1, sampler }, null, 2)}\n`);
    const manifestPath = join(checkpoint.path, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.files['trainer-state.json'].bytes = statSync(statePath).size;
    // a version-1 manifest, as written then: sizes only, no checksums
    manifest.version = 1;
    for (const file of Object.values(manifest.files) as { sha256?: string }[]) delete file.sha256;
    writeFileSync(manifestPath, JSON.stringify(manifest));

    const second = run(join(root, 'v1'));
    expect((await second.t.resume())?.step).toBe(3);
    expect(second.t.sampler?.state()).toEqual({ seed: 1337, counter: 12 });
    await second.t.train();
    expect([...first.losses, ...second.losses]).toEqual(straight.losses);
  });
});
