/**
 * Checks that scripts/reference/gpt.py (the PyTorch reference) agrees with this package on the
 * token file format, the window sampler, the train/validation split and the LR schedules, so the
 * two can train on identical batches with identical rates. Runs when a Python with torch exists.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSchedule,
  readTokenFile,
  type ScheduleConfig,
  TokenDataset,
  WindowSampler,
  writeTokenFile,
} from '../src/node.js';

const referenceDir = join(import.meta.dirname, '..', '..', '..', 'scripts', 'reference');

// Finds torch without importing it (an import takes seconds).
const FIND_TORCH = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)";

function findTorchPython(): string | undefined {
  for (const python of [process.env.KILN_PYTHON, '/usr/bin/python3', 'python3']) {
    if (python && spawnSync(python, ['-c', FIND_TORCH], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}
const python = findTorchPython();
// Importing gpt.py must not leave __pycache__ in the repository.
const NO_BYTECODE = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-reference-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Runs in one Python process (importing torch once) and prints one JSON object.
const program = `
import json, sys
import numpy as np
import gpt
args = json.loads(sys.argv[1])
tokens, header = gpt.read_token_file(args["kilnFile"])
data = gpt.TokenDataset(tokens, args["context"], 0.1)
sampler = gpt.WindowSampler(args["seed"])
x, y = data.train_batch(3, sampler)
vx, vy = next(data.validation_batches(2, 10))
gpt.write_token_file(args["pythonFile"], np.arange(70000, 70010), 70010, {"source": "python"})
print(json.dumps({
  "tokens": tokens.tolist(), "header": header,
  "nTrain": data.n_train, "nVal": data.n_val,
  "train": [x.flatten().tolist(), y.flatten().tolist()], "validation": vx.flatten().tolist(),
  "lr": [[gpt.lr_at(s, sched) for s in args["steps"]] for sched in args["schedules"]],
}))
`;

describe.skipIf(!python)('agreement with scripts/reference/gpt.py', () => {
  it('reads and writes the same token files, samples the same batches and uses the same rates', async () => {
    const tokens = Array.from({ length: 500 }, (_, i) => (i * 37) % 1000);
    const kilnFile = join(dir, 'kiln.kilntok');
    const pythonFile = join(dir, 'python.kilntok');
    await writeTokenFile(kilnFile, tokens, { vocabSize: 1000, metadata: { tokenizer: 'test' } });
    const schedules: ScheduleConfig[] = [
      { kind: 'cosine', maxLr: 6e-4, minLr: 6e-5, warmupSteps: 10, totalSteps: 100 },
      { kind: 'linear', maxLr: 1e-3, warmupSteps: 5, totalSteps: 50 },
      { kind: 'constant', lr: 3e-4, warmupSteps: 3 },
    ];
    const steps = [0, 1, 4, 9, 10, 11, 37, 50, 99, 100, 150];
    const args = { kilnFile, pythonFile, context: 8, seed: 1234, schedules, steps };
    const out = JSON.parse(
      execFileSync(python!, ['-c', program, JSON.stringify(args)], {
        cwd: referenceDir,
        encoding: 'utf8',
        env: NO_BYTECODE,
      }),
    );

    expect(out.tokens).toEqual(tokens);
    expect(out.header).toEqual({
      version: 1,
      tokenCount: 500,
      vocabSize: 1000,
      metadata: { tokenizer: 'test' },
    });

    const data = new TokenDataset(tokens, { contextLength: 8 });
    expect([out.nTrain, out.nVal]).toEqual([data.trainTokens, data.validationTokens]);
    const batch = data.sampleTrainBatch(3, new WindowSampler(1234));
    expect(out.train).toEqual([[...batch.inputs], [...batch.targets]]);
    expect(out.validation).toEqual([...data.validationBatches(2).next().value!.inputs]);

    for (const [i, config] of schedules.entries()) {
      const lr = createSchedule(config);
      for (const [j, value] of (out.lr[i] as number[]).entries()) expect(value).toBeCloseTo(lr(steps[j]), 15);
    }

    const fromPython = await readTokenFile(pythonFile);
    expect(fromPython.header).toMatchObject({
      dtype: 'uint32',
      tokenCount: 10,
      vocabSize: 70010,
      metadata: { source: 'python' },
    });
    expect([...fromPython.tokens]).toEqual(Array.from({ length: 10 }, (_, i) => 70000 + i));
  });
});
