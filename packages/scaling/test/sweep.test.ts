// The sweep lab on a tiny budget (seconds on the CPU backend): plan, train, reuse, resume, fit,
// predict and verify, plots and summary.json.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '@kiln/tensor';
import type { GPTConfig } from '@kiln/transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countGPT, planSweep, runSweep, SeededRandom, type SweepOptions } from '../src/node.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = await mkdtemp(join(tmpdir(), 'kiln-sweep-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A Markov chain over 32 tokens (each with 3 likely successors): learnable, so losses fall. */
function markovTokens(n: number): Int32Array {
  const random = new SeededRandom(11);
  const next = Array.from({ length: 32 }, () => [0, 1, 2].map(() => random.integer(32)));
  const out = new Int32Array(n);
  for (let i = 1; i < n; i++) {
    out[i] = random.uniform() < 0.9 ? next[out[i - 1]][random.integer(3)] : random.integer(32);
  }
  return out;
}

const model = (dModel: number, nLayers: number): GPTConfig => ({
  family: 'gpt2',
  vocabSize: 32,
  contextLength: 16,
  nLayers,
  nHeads: 2,
  dModel,
});
const MODELS = [model(8, 1), model(16, 1), model(32, 1)];

function options(log: string[], extra: Partial<SweepOptions> = {}): SweepOptions {
  return {
    outDir: dir,
    tokens: markovTokens(20_000),
    budgets: [2e7, 5e7],
    models: MODELS,
    batchSize: 4,
    minSteps: 3,
    train: { evalWindows: 16, evalBatchSize: 16 },
    verify: { budget: 1e8 },
    fit: { bootstrap: 20, grid: { a: [0, 5], b: [0, 5], e: [0, 1], alpha: [0.5], beta: [0.5] } },
    log: (line) => log.push(line),
    ...extra,
  };
}

describe('planSweep', () => {
  it('gives each (budget, model) run D = C / 6N tokens in whole steps', () => {
    const runs = planSweep({ budgets: [4e7, 2e7], models: MODELS, batchSize: 4, minSteps: 3 });
    expect(runs[0].budget).toBe(2e7); // sorted by budget
    for (const r of runs) {
      const N = countGPT(r.config).totalParams;
      expect(r.params).toBe(N);
      expect(r.steps).toBe(Math.round(r.budget / (6 * N) / 64));
      expect(r.tokens).toBe(r.steps * 64);
      expect(r.flops).toBe(6 * N * r.tokens);
    }
    expect(() => planSweep({ budgets: [1e3], models: MODELS, batchSize: 4 })).toThrow(/no model runs/);
  });
});

describe('runSweep', () => {
  it('trains every run, fits, predicts a larger run, trains it, and writes the plots and summary', async () => {
    const log: string[] = [];
    const outcome = await runSweep(options(log));
    expect(outcome.stopped).toBe(false);
    const summary = outcome.summary!;
    const planned = planSweep({ budgets: [2e7, 5e7], models: MODELS, batchSize: 4, minSteps: 3 });
    expect(summary.runs.map((r) => r.id)).toEqual(planned.map((r) => r.id));
    for (const r of summary.runs) {
      expect(r.reused).toBe(false);
      expect(Number.isFinite(r.valLoss)).toBe(true);
      expect(r.valLoss).toBeLessThan(Math.log(32) + 0.5); // near or below the uniform baseline
    }
    // one progress line per run with the overall ETA, and the last one says done
    const lines = log.filter((l) => /^\[\s*\d+\/\d+\]/.test(l));
    expect(lines).toHaveLength(planned.length + 1);
    expect(lines[0]).toMatch(/ETA/);
    expect(lines.at(-1)).toMatch(/100% of FLOPs, done/);
    for (const key of ['E', 'A', 'B', 'alpha', 'beta'] as const)
      expect(Number.isFinite(summary.fit[key])).toBe(true);
    const p = summary.prediction!;
    expect(p.budget).toBe(1e8);
    expect(p.run.id.startsWith('verify-')).toBe(true);
    expect(p.measuredLoss).toBe(p.run.valLoss);
    expect(p.error).toBeCloseTo(p.measuredLoss - p.predictedLoss, 12);
    const files = await readdir(dir);
    for (const f of ['summary.json', 'isoflop.svg', 'frontier.svg', 'loss-vs-compute.svg'])
      expect(files).toContain(f);
    const onDisk = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(onDisk.prediction.measuredLoss).toBe(p.measuredLoss);
  });

  it('reuses finished runs instead of retraining them', async () => {
    const first = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    const log: string[] = [];
    const { summary } = await runSweep(options(log));
    expect(summary!.runs.every((r) => r.reused)).toBe(true);
    expect(summary!.prediction!.run.reused).toBe(true);
    expect(summary!.trainingSeconds).toBe(0);
    expect(summary!.runs.map((r) => r.valLoss)).toEqual(
      first.runs.map((r: { valLoss: number }) => r.valLoss),
    );
  });

  it('resumes a run from its checkpoint when its result is missing, to the same loss', async () => {
    const first = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    const id = first.runs[1].id;
    await rm(join(dir, 'runs', id, 'result.json'));
    const { summary } = await runSweep(options([]));
    const again = summary!.runs[1];
    expect(again.id).toBe(id);
    expect(again.reused).toBe(false);
    expect(again.valLoss).toBeCloseTo(first.runs[1].valLoss, 10);
  });

  it('stops when aborted and, run again, resumes the stopped run to the uninterrupted loss', async () => {
    const first = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    const other = await mkdtemp(join(tmpdir(), 'kiln-sweep-stop-'));
    try {
      // Abort as soon as the first run reports: the second run stops with a checkpoint.
      const stop = new AbortController();
      const log: string[] = [];
      const outcome = await runSweep({
        ...options([]),
        outDir: other,
        signal: stop.signal,
        log: (line) => {
          log.push(line);
          stop.abort();
        },
      });
      expect(outcome.stopped).toBe(true);
      expect(log).toHaveLength(1);
      const stopped = first.runs[1].id;
      expect(await readdir(join(other, 'runs', stopped))).toContain('checkpoints');
      const { summary } = await runSweep({ ...options([]), outDir: other });
      expect(summary!.runs[0].reused).toBe(true);
      expect(summary!.runs[1].reused).toBe(false);
      expect(summary!.runs[1].valLoss).toBeCloseTo(first.runs[1].valLoss, 10);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('refuses a verification budget inside the sweep', async () => {
    await expect(runSweep({ ...options([]), verify: { budget: 4e7 } })).rejects.toThrow(
      /above every sweep budget/,
    );
  });
});
