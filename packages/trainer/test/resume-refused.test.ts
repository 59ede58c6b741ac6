// A resume never silently starts over. When the run's checkpoints are unusable (truncated or
// corrupt weights or optimizer state), `resume()` fails naming each checkpoint it tried and why
// it was refused, unless the caller asked to start fresh; when an older good checkpoint exists it
// falls back to it, says so (a warning naming the refused checkpoint, the reason and the step)
// and records it in the metrics log.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CheckpointDir,
  ResumeError,
  readMetrics,
  TokenDataset,
  type TrainConfigInput,
  Trainer,
} from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
const data = new TokenDataset(tokens, { contextLength: 8 });
const root = mkdtempSync(join(tmpdir(), 'kiln-resume-refused-'));
const config: TrainConfigInput = {
  steps: 4,
  batchSize: 2,
  logInterval: 1,
  checkpointInterval: 2,
  evalInterval: 100,
  evalWindows: 2,
  schedule: { kind: 'constant', lr: 0.01 },
};

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function trainer(outDir: string, steps = 4): Trainer<TinyLM> {
  manualSeed(1);
  return new Trainer({
    model: new TinyLM(vocabSize),
    data,
    outDir,
    progress: false,
    config: { ...config, steps },
  });
}

/** A run with checkpoints at steps 2 and 4 (or only 4 when `keep` is 1). */
async function run(name: string, keep = 2): Promise<{ outDir: string; step2: string; step4: string }> {
  const outDir = join(root, name);
  manualSeed(1);
  await new Trainer({
    model: new TinyLM(vocabSize),
    data,
    outDir,
    progress: false,
    config: { ...config, keepCheckpoints: keep },
  }).train();
  const dir = join(outDir, 'checkpoints');
  return { outDir, step2: join(dir, 'step-00000002'), step4: join(dir, 'step-00000004') };
}

/** Flips bytes in the middle of a file without changing its size (what a bad disk or copy does). */
function corrupt(path: string): void {
  const bytes = readFileSync(path);
  for (let i = bytes.length - 16; i < bytes.length - 8; i++) bytes[i] ^= 0xff;
  writeFileSync(path, bytes);
}

describe('resume with unusable checkpoints', () => {
  it('refuses to start over when the only checkpoint has truncated weights, naming it and why', async () => {
    const { outDir, step4 } = await run('truncated', 1);
    truncateSync(join(step4, 'model.safetensors'), 100);
    const t = trainer(outDir);
    const error = await t.resume().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResumeError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Trainer\.resume: no usable checkpoint in .*checkpoints; tried 1:/);
    expect(message).toContain(step4);
    expect(message).toMatch(/model\.safetensors is 100 bytes but the manifest says \d+/);
    expect(message).toMatch(/ifUnusable: 'start-fresh'/);
    expect(t.step).toBe(0);
    // nothing was overwritten
    expect((await new CheckpointDir(join(outDir, 'checkpoints')).scan()).refused.map((r) => r.step)).toEqual([
      4,
    ]);
  });

  it('refuses weights corrupted in place (same size) by their checksum', async () => {
    const { outDir, step4 } = await run('flipped', 1);
    corrupt(join(step4, 'model.safetensors'));
    const error = await trainer(outDir)
      .resume()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ResumeError);
    expect((error as Error).message).toMatch(/model\.safetensors does not match its sha256 in the manifest/);
  });

  it('refuses corrupt optimizer state the same way', async () => {
    const { outDir, step4 } = await run('optimizer', 1);
    corrupt(join(step4, 'optimizer.safetensors'));
    const error = await trainer(outDir)
      .resume()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as Error).message).toMatch(
      /step-00000004.*optimizer\.safetensors does not match its sha256/s,
    );
  });

  it('starts fresh only when asked, and says so', async () => {
    const { outDir, step4 } = await run('fresh', 1);
    corrupt(join(step4, 'model.safetensors'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const t = trainer(outDir);
    expect(await t.resume({ ifUnusable: 'start-fresh' })).toBeUndefined();
    expect(t.step).toBe(0);
    expect(warn.mock.calls.join('\n')).toMatch(/refused .*step-00000004.*starting fresh/s);
  });

  it('falls back to an older good checkpoint with a warning and a metrics record', async () => {
    const { outDir, step2, step4 } = await run('fallback');
    corrupt(join(step4, 'model.safetensors'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const t = trainer(outDir, 6);
    const from = await t.resume();
    expect(from?.path).toBe(step2);
    expect(t.step).toBe(2);
    const warned = warn.mock.calls.join('\n');
    expect(warned).toMatch(/refused checkpoint step 4 \(.*step-00000004\): .*sha256/);
    expect(warned).toMatch(/resuming from step 2/);
    await t.train();
    const records = await readMetrics(join(outDir, 'metrics.jsonl'));
    const event = records.find((r) => r.event === 'resume-fallback');
    expect(event).toMatchObject({ step: 2, resumedFrom: step2, refused: [{ step: 4, path: step4 }] });
    expect(records.filter((r) => typeof r.loss === 'number').map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('an explicitly chosen checkpoint that is unusable fails naming it', async () => {
    const { outDir, step4 } = await run('explicit', 1);
    const dir = new CheckpointDir(join(outDir, 'checkpoints'));
    const info = (await dir.latest())!;
    corrupt(join(step4, 'model.safetensors'));
    await expect(trainer(outDir).resume(info)).rejects.toThrow(/step-00000004.*sha256/s);
  });

  it('an empty run directory still starts fresh without an error', async () => {
    expect(await trainer(join(root, 'empty')).resume()).toBeUndefined();
  });
});
