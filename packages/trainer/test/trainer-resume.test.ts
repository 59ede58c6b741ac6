// Exact resume: N steps straight vs N/2 steps, checkpoint, fresh state, resume for N/2 more.
// On the CPU backend the losses and the final weights must be identical, bit for bit. The model
// uses dropout, so the RNG state must be restored too, and the sampler must continue its stream.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRngState, init, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointDir, readMetrics, TokenDataset, type TrainConfigInput, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(3000));
const contextLength = 16;
const data = new TokenDataset(tokens, { contextLength });
const config: TrainConfigInput = {
  steps: 8,
  batchSize: 4,
  logInterval: 1,
  evalInterval: 4,
  evalWindows: 4,
  checkpointInterval: 2,
  keepCheckpoints: 2,
  schedule: { kind: 'cosine', maxLr: 1e-2, minLr: 1e-3, warmupSteps: 2 },
};
const root = mkdtempSync(join(tmpdir(), 'kiln-resume-'));

function makeModel(seed: number): GPT {
  manualSeed(seed);
  return new GPT({
    family: 'gpt2',
    vocabSize,
    contextLength,
    nLayers: 1,
    nHeads: 2,
    dModel: 16,
    dropout: 0.2,
  });
}

async function weights(model: GPT): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) out[name] = Array.from(await p.data());
  return out;
}

beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Trainer resume', () => {
  it('continues bit-identically to an uninterrupted run', async () => {
    // Straight through.
    const straightLosses: number[] = [];
    const straight = new Trainer({
      model: makeModel(0),
      data,
      config,
      outDir: join(root, 'straight'),
      progress: false,
      callbacks: { onLog: (i) => void straightLosses.push(i.loss) },
    });
    const straightResult = await straight.train();
    const straightWeights = await weights(straight.model as GPT);

    // Interrupted after step 4 (the abort lands after the step-4 checkpoint).
    const firstLosses: number[] = [];
    const stop = new AbortController();
    const first = new Trainer({
      model: makeModel(0),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
      signal: stop.signal,
      callbacks: {
        onLog: (i) => void firstLosses.push(i.loss),
        onStep: (i) => (i.step === 4 ? stop.abort() : undefined),
      },
    });
    const firstResult = await first.train();
    expect(firstResult).toMatchObject({ step: 4, stopped: true });

    // Fresh state: different initial weights, a scrambled RNG, a new optimizer and sampler.
    const rngAtStop = getRngState();
    manualSeed(987654);
    const secondLosses: number[] = [];
    const second = new Trainer({
      model: makeModel(42),
      data,
      config,
      outDir: join(root, 'resumed'),
      progress: false,
      callbacks: { onLog: (i) => void secondLosses.push(i.loss) },
    });
    const resumedFrom = await second.resume();
    expect(resumedFrom?.step).toBe(4);
    expect(second.step).toBe(4);
    expect(getRngState()).toEqual(rngAtStop); // the step-4 state, not the scrambled one
    const secondResult = await second.train();

    expect(straightLosses).toHaveLength(8);
    expect([...firstLosses, ...secondLosses]).toEqual(straightLosses);
    expect(await weights(second.model as GPT)).toEqual(straightWeights);
    expect(secondResult.validation!.loss).toBe(straightResult.validation!.loss);
    expect(secondResult.tokens).toBe(straightResult.tokens);

    // The metrics logs agree too (apart from timings), with no step logged twice.
    const strip = (records: Record<string, unknown>[]) =>
      records.map(({ elapsedSeconds, tokensPerSecond, ...rest }) => rest);
    const a = await readMetrics(join(root, 'straight', 'metrics.jsonl'));
    const b = await readMetrics(join(root, 'resumed', 'metrics.jsonl'));
    expect(strip(b)).toEqual(strip(a));
    expect(readFileSync(join(root, 'resumed', 'loss.svg'), 'utf8')).toContain('<svg');

    // Only the last 2 checkpoints are kept.
    const kept = await new CheckpointDir(join(root, 'resumed', 'checkpoints')).list();
    expect(kept.map((c) => c.step)).toEqual([6, 8]);
    expect(Object.keys(kept[1].files).sort()).toEqual([
      'model.safetensors',
      'optimizer.safetensors',
      'run-config.json',
      'trainer-state.json',
    ]);
  });
});
