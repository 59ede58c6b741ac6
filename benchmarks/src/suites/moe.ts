// Mixture of experts: forward+backward tokens/s of @kiln/moe's MoE layer (dropless and capacity
// dispatch) against a dense SwiGLU with the same active parameters (width k·expertDFF), on the
// same backend and batch, and the time of its parts (routing, permutation, grouped expert
// product, combine), each timed alone with its own backward. One process per backend.
// Environment: BENCH_MOE_STEPS / BENCH_MOE_WARMUP (default 5 / 1), BENCH_MOE_BACKENDS
// (default cpu,webgpu); shapes: BENCH_MOE_TOKENS, _DMODEL, _EXPERTS, _TOPK, _DFF (src/moe/config.ts).
// Numbers: docs/moe.md.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatSummary, printErrorsAndLoad, printTable, summarize, writeResults } from '../harness.js';
import { MOE_BENCH, type MoEBenchResult } from '../moe/config.js';
import type { Suite } from '../run.js';
import { gitRevision, runNode } from '../tensor/child.js';

const CHILD = join(import.meta.dirname, '..', 'moe', 'moe-layer.ts');

async function runSuite(): Promise<void> {
  const backends = (process.env.BENCH_MOE_BACKENDS ?? 'cpu,webgpu').split(',').map((s) => s.trim());
  const steps = process.env.BENCH_MOE_STEPS ?? '5';
  const warmup = process.env.BENCH_MOE_WARMUP ?? '1';
  const loadStart = loadavg()[0];
  const { tokens, dModel, experts, topK, expertDFF } = MOE_BENCH;
  console.log(
    `MoE layer: ${tokens} tokens, d ${dModel}, ${experts} SwiGLU experts of width ${expertDFF}, top-${topK}, ` +
      `dropless (grouped kernel); capacity factor 1.25. Dense reference: SwiGLU of width ${topK * expertDFF} (equal active parameters).\n`,
  );
  const errors: string[] = [];
  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  for (const backend of backends) {
    const outcome = runNode<MoEBenchResult>(CHILD, [backend, warmup, steps]);
    if (!outcome.ok) {
      errors.push(`${backend}: ${outcome.error}`);
      continue;
    }
    const { ms, device } = outcome.value;
    const median = (name: string) => summarize(ms[name]).median;
    const ratios = {
      droplessOverDense: median('dropless') / median('dense'),
      capacityOverDense: median('capacity') / median('dense'),
      routeOverDense: median('route') / median('dense'),
      permuteOverDense: median('permute') / median('dense'),
      expertsOverDense: median('experts') / median('dense'),
      combineOverDense: median('combine') / median('dense'),
      blocksOverDense: median('blocks') / median('dense'),
      expertsOverBlocks: median('experts') / median('blocks'),
    };
    results[backend] = { device, ms, ratios };
    for (const name of Object.keys(ms)) {
      const s = summarize(ms[name]);
      rows.push([
        backend,
        name,
        formatSummary(s, 1),
        ['dense', 'dropless', 'capacity'].includes(name) ? `${((tokens / s.median) * 1000).toFixed(0)}` : '',
        `${(s.median / median('dense')).toFixed(2)}×`,
      ]);
    }
    console.log(
      `${backend} (${device}): dropless MoE ${ratios.droplessOverDense.toFixed(2)}× dense, capacity ${ratios.capacityOverDense.toFixed(2)}×`,
    );
  }
  console.log();
  printTable(['backend', 'workload (fwd+bwd)', 'ms (median, range)', 'tokens/s', 'of dense'], rows);
  printErrorsAndLoad(errors, loadStart);
  writeResults('moe', { revision: gitRevision(), shapes: MOE_BENCH, steps: Number(steps), results, errors });
}

const suite: Suite = { name: 'moe', run: runSuite };
export default suite;
