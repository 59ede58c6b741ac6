// Every JSON file of a run or checkpoint directory that is garbled fails with an error naming
// the file and what it should hold — never a bare SyntaxError.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointDir, loadTrainingCheckpoint, TokenDataset, Trainer } from '../src/node.js';
import { denseTokens, mobyDickBytes } from './helpers/text.js';
import { TinyLM } from './helpers/tiny-lm.js';

const { tokens, vocabSize } = denseTokens(mobyDickBytes(2000));
const data = new TokenDataset(tokens, { contextLength: 8 });
const root = mkdtempSync(join(tmpdir(), 'kiln-json-errors-'));
const config = {
  steps: 2,
  batchSize: 2,
  logInterval: 1,
  checkpointInterval: 2,
  evalInterval: 100,
  evalWindows: 2,
  schedule: { kind: 'constant' as const, lr: 0.01 },
};

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function trainer(outDir: string): Trainer<TinyLM> {
  manualSeed(2);
  return new Trainer({ model: new TinyLM(vocabSize), data, outDir, progress: false, config });
}

/** Replaces a checkpoint file and its manifest entry, as a buggy tool writing valid manifests would. */
function rewrite(checkpointPath: string, name: string, text: string): void {
  writeFileSync(join(checkpointPath, name), text);
  const manifestPath = join(checkpointPath, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files[name] = {
    bytes: Buffer.byteLength(text),
    sha256: createHash('sha256').update(text).digest('hex'),
  };
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

describe('garbled JSON files name the file', () => {
  it('trainer-state.json and run-config.json', async () => {
    const outDir = join(root, 'state');
    await trainer(outDir).train();
    const dir = new CheckpointDir(join(outDir, 'checkpoints'));
    const checkpoint = (await dir.latest())!;
    const t = trainer(outDir);
    const parts = { model: t.model, optimizer: t.optimizer, data: { state: () => null, restore: () => {} } };

    rewrite(checkpoint.path, 'trainer-state.json', '{"format": "kiln-trainer-state", "step": 2,');
    let error = await caught(loadTrainingCheckpoint(dir, (await dir.latest())!, parts));
    expect(error.name).not.toBe('SyntaxError');
    expect(error.message).toContain(join(checkpoint.path, 'trainer-state.json'));
    expect(error.message).toMatch(
      /trainer-state\.json: not valid JSON \(.*\); expected a Kiln trainer state/,
    );

    await trainer(join(root, 'config')).train();
    const dir2 = new CheckpointDir(join(root, 'config', 'checkpoints'));
    rewrite((await dir2.latest())!.path, 'run-config.json', '{"train": ');
    error = await caught(loadTrainingCheckpoint(dir2, (await dir2.latest())!, parts));
    expect(error.message).toMatch(/run-config\.json: not valid JSON .*expected the run config/);
  });

  it('manifest.json: a resume names it in the refusal', async () => {
    const outDir = join(root, 'manifest');
    await trainer(outDir).train();
    const checkpoint = (await new CheckpointDir(join(outDir, 'checkpoints')).latest())!;
    writeFileSync(join(checkpoint.path, 'manifest.json'), '{"format": "kiln-checkpoint", ');
    const error = await caught(trainer(outDir).resume());
    expect(error.message).toContain(`${join(checkpoint.path, 'manifest.json')}: not valid JSON`);
    expect(error.message).toMatch(/expected a Kiln checkpoint manifest/);
  });

  it('metrics.jsonl: a resumed run names the file and the line', async () => {
    const outDir = join(root, 'metrics');
    await trainer(outDir).train();
    const path = join(outDir, 'metrics.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[0] = '{"step": 1, "loss": ';
    writeFileSync(path, lines.join('\n'));
    const t = trainer(outDir);
    await t.resume();
    const error = await caught(t.train());
    expect(error.message).toContain(path);
    expect(error.message).toMatch(
      /line 1 is not valid JSON .*expected one JSON object with an integer 'step' per line/,
    );
  });
});
