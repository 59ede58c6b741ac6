// LoRA against full fine-tuning: one training step of the train suite's small GPT (GPT-2 family,
// 4 layers, 4 heads, d 128, context 128, vocab 256, batch 16, AdamW over defaultParamGroups),
// every parameter trained vs rank-8 adapters on every linear layer of the blocks (applyLoRA,
// base frozen), on Kiln's CPU backend and on WebGPU: tokens/s, trainable parameters and the
// bytes of AdamW's state. One process per run, the same random token batches for both.
// Environment: BENCH_LORA_STEPS / BENCH_LORA_WARMUP (timed / untimed steps, default 3 / 1),
// BENCH_LORA_BACKENDS (comma-separated: cpu,webgpu). Numbers: docs/finetuning-lora.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatSummary,
  printErrorsAndLoad,
  printTable,
  type Summary,
  summarize,
  writeResults,
} from '../harness.js';
import { LORA, type LoRAStepResult } from '../lora/config.js';
import type { Suite } from '../run.js';
import { gitRevision, runNode } from '../tensor/child.js';
import { BATCH, envSteps, MODEL, TOKENS_PER_STEP, writeTokenBatches } from '../train/config.js';

const CHILD = join(import.meta.dirname, '..', 'lora', 'lora-train.ts');

interface RunResult {
  backend: string;
  mode: 'full' | 'lora';
  tokensPerSecond: Summary;
  stepMs: Summary;
  losses: number[];
  totalParams: number;
  trainableParams: number;
  optimizerStateBytes: number;
  device: string;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

async function runSuite(): Promise<void> {
  const wanted = (process.env.BENCH_LORA_BACKENDS ?? 'cpu,webgpu').split(',').map((s) => s.trim());
  const warmup = String(envSteps('BENCH_LORA_WARMUP', 1));
  const steps = String(envSteps('BENCH_LORA_STEPS', 3));
  const loadStart = loadavg()[0];
  console.log(
    `GPT-2 family: ${MODEL.nLayers} layers, ${MODEL.nHeads} heads, d ${MODEL.dModel}, context ${MODEL.contextLength}, ` +
      `vocab ${MODEL.vocabSize}; batch ${BATCH} (${TOKENS_PER_STEP} tokens per step); AdamW. ` +
      `LoRA: rank ${LORA.rank}, alpha ${LORA.alpha}, ${LORA.targets}.\n`,
  );
  const revision = gitRevision();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-lora-'));
  const tokens = join(dir, 'batches.bin');
  writeTokenBatches(tokens, 32);
  const results: RunResult[] = [];
  const errors: string[] = [];
  try {
    for (const backend of wanted) {
      for (const mode of ['full', 'lora'] as const) {
        const outcome = runNode<LoRAStepResult>(CHILD, [backend, mode, tokens, warmup, steps]);
        if (!outcome.ok) {
          errors.push(`${backend} ${mode}: ${outcome.error}`);
          console.log(`${backend} ${mode}: FAILED (see errors below)`);
          continue;
        }
        const r = outcome.value;
        const tokensPerSecond = summarize(r.stepMs.map((ms) => TOKENS_PER_STEP / (ms / 1000)));
        results.push({
          backend,
          mode,
          tokensPerSecond,
          stepMs: summarize(r.stepMs),
          losses: r.losses,
          totalParams: r.totalParams,
          trainableParams: r.trainableParams,
          optimizerStateBytes: r.optimizerStateBytes,
          device: r.device,
        });
        console.log(`${backend} ${mode}: ${tokensPerSecond.median.toFixed(0)} tokens/s (${r.device})`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log();
  printTable(
    [
      'backend',
      'training',
      'tokens/s (median, range)',
      'step ms',
      'trainable params',
      'of all',
      'AdamW state',
    ],
    results.map((r) => [
      r.backend,
      r.mode === 'full' ? 'full fine-tune' : `LoRA r=${LORA.rank}`,
      formatSummary(r.tokensPerSecond, 0),
      formatSummary(r.stepMs, 0),
      r.trainableParams.toLocaleString('en-US'),
      `${((100 * r.trainableParams) / r.totalParams).toFixed(1)}%`,
      mib(r.optimizerStateBytes),
    ]),
  );
  for (const backend of wanted) {
    const full = results.find((r) => r.backend === backend && r.mode === 'full');
    const lora = results.find((r) => r.backend === backend && r.mode === 'lora');
    if (full && lora)
      console.log(
        `${backend}: LoRA runs at ${(lora.tokensPerSecond.median / full.tokensPerSecond.median).toFixed(2)}× full fine-tuning's tokens/s ` +
          `and keeps ${((100 * lora.optimizerStateBytes) / full.optimizerStateBytes).toFixed(1)}% of its optimizer state.`,
      );
  }
  printErrorsAndLoad(errors, loadStart);
  writeResults('lora', { revision, model: MODEL, batch: BATCH, lora: LORA, results, errors });
}

const suite: Suite = { name: 'lora', run: runSuite };
export default suite;
