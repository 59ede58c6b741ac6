// RLHF rollouts: GRPO steps of @kiln/rlhf on a GPT the size of the examples' (GPT-2 family,
// 2 layers, d 64, context 32, vocab 512), B prompts × G completions generated in one batched,
// KV-cached pass, then one optimizer step. Reports rollout tokens/s (generated tokens per second
// of generation) and the split of the step between generation and optimisation (OpenRLHF
// reports rollouts at ~80% of an RL step on GPUs). One process per configuration.
// Environment: BENCH_RLHF_STEPS / BENCH_RLHF_WARMUP (default 3 / 1), BENCH_RLHF_BACKENDS
// (comma-separated: cpu,webgpu). Numbers: docs/rlhf.md.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  formatSummary,
  printErrorsAndLoad,
  printTable,
  type Summary,
  summarize,
  writeResults,
} from '../harness.js';
import { type GRPOBenchResult, RLHF_MODEL } from '../rlhf/config.js';
import type { Suite } from '../run.js';
import { gitRevision, runNode } from '../tensor/child.js';
import { envSteps } from '../train/config.js';

const CHILD = join(import.meta.dirname, '..', 'rlhf', 'grpo-step.ts');
/** [prompts, group, max completion tokens]: the example's step, and a longer-answer one. */
const CONFIGS: [number, number, number][] = [
  [8, 8, 3],
  [8, 8, 12],
];

async function runSuite(): Promise<void> {
  const wanted = (process.env.BENCH_RLHF_BACKENDS ?? 'webgpu,cpu').split(',').map((s) => s.trim());
  const warmup = String(envSteps('BENCH_RLHF_WARMUP', 1));
  const steps = String(envSteps('BENCH_RLHF_STEPS', 3));
  const loadStart = loadavg()[0];
  console.log(
    `GPT-2 family: ${RLHF_MODEL.nLayers} layers, d ${RLHF_MODEL.dModel}, context ${RLHF_MODEL.contextLength}, vocab ${RLHF_MODEL.vocabSize}; GRPO with a reference model, one optimizer step per rollout batch.\n`,
  );
  const rows: {
    backend: string;
    config: string;
    stepMs: Summary;
    tokensPerSecond: Summary;
    generation: number;
    device: string;
  }[] = [];
  const errors: string[] = [];
  for (const backend of wanted) {
    for (const [prompts, group, maxTokens] of CONFIGS) {
      const config = `${prompts}×${group}, ≤${maxTokens} tokens`;
      const outcome = runNode<GRPOBenchResult>(CHILD, [
        backend,
        String(prompts),
        String(group),
        String(maxTokens),
        warmup,
        steps,
      ]);
      if (!outcome.ok) {
        errors.push(`${backend} ${config}: ${outcome.error}`);
        console.log(`${backend} ${config}: FAILED (see errors below)`);
        continue;
      }
      const r = outcome.value;
      const gen = r.generationMs.reduce((a, b) => a + b, 0);
      const opt = r.optimisationMs.reduce((a, b) => a + b, 0);
      rows.push({
        backend,
        config,
        stepMs: summarize(r.stepMs),
        tokensPerSecond: summarize(r.rolloutTokensPerSecond),
        generation: gen / (gen + opt),
        device: r.device,
      });
      console.log(
        `${backend} ${config}: ${summarize(r.rolloutTokensPerSecond).median.toFixed(0)} rollout tokens/s (${r.device})`,
      );
    }
  }
  console.log();
  printTable(
    ['backend', 'B×G, completion', 'step ms', 'rollout tokens/s', 'generation share', 'optimisation share'],
    rows.map((r) => [
      r.backend,
      r.config,
      formatSummary(r.stepMs, 0),
      formatSummary(r.tokensPerSecond, 0),
      `${(100 * r.generation).toFixed(0)}%`,
      `${(100 * (1 - r.generation)).toFixed(0)}%`,
    ]),
  );
  printErrorsAndLoad(errors, loadStart);
  writeResults('rlhf', {
    revision: gitRevision(),
    model: RLHF_MODEL,
    configs: CONFIGS,
    results: rows,
    errors,
  });
}

const suite: Suite = { name: 'rlhf', run: runSuite };
export default suite;
