// A model directory's garbled config.json fails naming the file (not a bare SyntaxError).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { GPT } from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { initCpu } from './helpers.js';

await initCpu();
const root = await mkdtemp(join(tmpdir(), 'kiln-model-json-'));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('loadModel with a garbled config.json', () => {
  test('names the file and says the directory is corrupt', async () => {
    const dir = join(root, 'model');
    await saveModel(
      new GPT({ family: 'gpt2', vocabSize: 16, contextLength: 8, nLayers: 1, nHeads: 2, dModel: 8 }),
      dir,
    );
    await writeFile(join(dir, 'config.json'), '{"model_type": "gpt2", ');
    const error = await loadModel(dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).not.toBe('SyntaxError');
    expect(error?.message).toContain(`${join(dir, 'config.json')} is not valid JSON`);
  });
});
