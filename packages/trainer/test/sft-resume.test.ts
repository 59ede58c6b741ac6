// SFT resumes exactly through the same Trainer as pretraining: a run on a shuffled, packed
// SFTDataset stopped after 3 steps and resumed into fresh objects lands on the same losses and
// weights, bit for bit on the CPU, as an uninterrupted run; the checkpoint stores the dataset's
// position.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CheckpointDir, nonPaddingTokens, SFTDataset, Trainer, tokenizeChats } from '../src/node.js';
import { byteTokenizer, CHATML_SPECIALS } from './helpers/chat-tokenizer.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-sft-resume-'));
beforeAll(async () => {
  await init({ backend: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tokenizer = await byteTokenizer(CHATML_SPECIALS);
const examples = Array.from({ length: 10 }, (_, i) => ({
  messages: [
    { role: 'user', content: `${i * 13} reversed?` },
    {
      role: 'assistant',
      content: String(i * 13)
        .split('')
        .reverse()
        .join(''),
    },
  ],
}));
const { sequences } = tokenizeChats(examples, tokenizer, { maxLength: 48 });

function trainer(outDir: string, signal?: AbortSignal, onStep?: (step: number) => void) {
  manualSeed(5);
  const model = new GPT({ ...GPT.config('gpt2-tiny'), vocabSize: tokenizer.vocabSize, contextLength: 48 });
  const losses: number[] = [];
  const t = new Trainer({
    model,
    data: new SFTDataset(sequences, { batchSize: 2, contextLength: 48, seed: 9 }),
    countTokens: nonPaddingTokens,
    config: {
      steps: 6,
      gradAccum: 2,
      logInterval: 1,
      checkpointInterval: 3,
      schedule: { kind: 'constant', lr: 2e-3 },
    },
    outDir,
    progress: false,
    signal,
    callbacks: { onLog: ({ loss }) => void losses.push(loss), onStep: ({ step }) => onStep?.(step) },
  });
  return { t, losses };
}

it('an SFT run resumes bit-identically to an uninterrupted one', async () => {
  const straight = trainer(join(root, 'straight'));
  await straight.t.train();
  const weights = await Promise.all(
    straight.t.model.parameters().map(async (p) => Array.from(await p.data())),
  );

  const stop = new AbortController();
  const first = trainer(join(root, 'resumed'), stop.signal, (step) =>
    step === 3 ? stop.abort() : undefined,
  );
  expect(await first.t.train()).toMatchObject({ step: 3, stopped: true });
  const second = trainer(join(root, 'resumed'));
  expect((await second.t.resume())?.step).toBe(3);
  await second.t.train();

  expect([...first.losses, ...second.losses]).toEqual(straight.losses);
  const resumed = await Promise.all(second.t.model.parameters().map(async (p) => Array.from(await p.data())));
  expect(resumed).toEqual(weights);

  const [latest] = (await new CheckpointDir(join(root, 'resumed', 'checkpoints')).list()).slice(-1);
  const state = JSON.parse(readFileSync(join(latest.path, 'trainer-state.json'), 'utf8'));
  const rows = (second.t.data as SFTDataset).rows.length;
  // 6 steps × 2 micro-batches × 2 rows drawn
  expect(state.data).toMatchObject({
    kind: 'sft-dataset',
    seed: 9,
    epoch: Math.floor(24 / rows),
    offset: 24 % rows,
  });
  for (const t of [straight.t, first.t, second.t]) t.model.dispose();
});
