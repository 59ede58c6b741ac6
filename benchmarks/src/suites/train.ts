// The pretraining training-step benchmark: tokens/s of one fixed small GPT (GPT-2 family, 4
// layers, 4 heads, d 128, context 128, vocab 256, batch 16, AdamW) in
//   Kiln on WebGPU and on its CPU backend (@kiln/transformer + @kiln/trainer's AdamW),
//   TF.js on WebGPU, same Dawn adapter (the same model written with tf ops: src/train/tfjs-gpt.ts),
//   PyTorch on the CPU, 2 threads (scripts/reference/gpt.py's model, via benchmarks/python/train_step.py),
//   with OMP_WAIT_POLICY=PASSIVE (its best on a shared machine, see TORCH_ENV) and with OpenMP's
//   default spin-waiting (what a plain run gets; the issue's reference).
// Every implementation trains on the same random token batches (a file written here) with the
// same AdamW math, one process each; a step ends when its loss has been read back.
// Environment: BENCH_TRAIN_STEPS / BENCH_TRAIN_WARMUP (timed and untimed steps for every
// implementation; defaults differ per implementation, see DEFAULT_STEPS), BENCH_TRAIN_IMPLS
// (comma-separated: kiln-webgpu,kiln-cpu,tfjs,torch,torch-spin), BENCH_TRAIN_PROFILE=0 (skip Kiln's
// per-phase profile of one step), KILN_PYTHON. Method and numbers: docs/performance.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatRatio,
  formatSummary,
  printErrorsAndLoad,
  printTable,
  type Summary,
  summarize,
  writeResults,
} from '../harness.js';
import type { Suite } from '../run.js';
import {
  type ChildOutcome,
  gitRevision,
  runNode,
  runPython,
  TORCH_ENV,
  torchVersion,
} from '../tensor/child.js';
import {
  BATCH,
  envSteps,
  MODEL,
  TOKENS_PER_STEP,
  type TrainResult,
  writeTokenBatches,
} from '../train/config.js';
import type { StepProfile } from '../train/kiln-profile.js';

const DIR = join(import.meta.dirname, '..', 'train');
const PYTHON_SCRIPT = join(import.meta.dirname, '..', '..', 'python', 'train_step.py');
const PEAK_GFLOPS = Number(process.env.BENCH_PEAK_GFLOPS ?? 230);
/** The issue's reference numbers on this machine (tokens/s), printed for comparison. */
const ISSUE_REFERENCE = { tfjs: 450, torch: 17_600 };

type Impl = 'kiln-webgpu' | 'kiln-cpu' | 'tfjs' | 'torch' | 'torch-spin';
const LABEL: Record<Impl, string> = {
  'kiln-webgpu': 'Kiln webgpu',
  'kiln-cpu': 'Kiln cpu',
  tfjs: 'TF.js webgpu',
  torch: 'PyTorch cpu (2 threads)',
  'torch-spin': 'PyTorch cpu (2 threads, OpenMP default spin-wait)',
};
/** Untimed and timed steps: a Kiln step takes many seconds on lavapipe, a PyTorch step a fraction of one. */
const DEFAULT_STEPS: Record<Impl, { warmup: number; steps: number }> = {
  'kiln-webgpu': { warmup: 1, steps: 3 },
  'kiln-cpu': { warmup: 1, steps: 2 },
  tfjs: { warmup: 1, steps: 4 },
  torch: { warmup: 2, steps: 8 },
  'torch-spin': { warmup: 2, steps: 8 },
};

interface ImplResult {
  impl: Impl;
  label: string;
  tokensPerSecond: Summary;
  stepMs: Summary;
  warmupMs: number[];
  losses: number[];
  parameters: number;
  loadAfter: number;
  notes: string[];
}

function selected(impl: Impl): boolean {
  const filter = process.env.BENCH_TRAIN_IMPLS;
  return !filter || filter.split(',').some((f) => f.trim() === impl);
}

function run(impl: Impl, tokens: string, profile: boolean): ChildOutcome<TrainResult> {
  const warmup = String(envSteps('BENCH_TRAIN_WARMUP', DEFAULT_STEPS[impl].warmup));
  const steps = String(envSteps('BENCH_TRAIN_STEPS', DEFAULT_STEPS[impl].steps));
  switch (impl) {
    case 'kiln-webgpu':
    case 'kiln-cpu': {
      const args = [impl === 'kiln-webgpu' ? 'webgpu' : 'cpu', tokens, warmup, steps];
      return runNode(join(DIR, 'kiln-train.ts'), profile ? [...args, 'profile'] : args);
    }
    case 'tfjs':
      return runNode(join(DIR, 'tfjs-train.ts'), [tokens, warmup, steps]);
    case 'torch':
      return runPython(PYTHON_SCRIPT, [tokens, warmup, steps], TORCH_ENV);
    case 'torch-spin':
      // OpenMP's default wait policy, as a plain `python3` run has it (the issue's reference number)
      return runPython(PYTHON_SCRIPT, [tokens, warmup, steps]);
  }
}

function printProfile(p: StepProfile, stepMs: number): void {
  console.log('Kiln webgpu, one step split into phases (each ends with a readback):\n');
  const top = (ops: Record<string, number>) =>
    Object.entries(ops)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
  printTable(
    ['phase', 'ms', 'ops', 'most frequent ops'],
    (['forward', 'backward', 'optimizer'] as const).map((phase) => [
      phase,
      p.phaseMs[phase].toFixed(0),
      String(p.opTotals[phase]),
      top(p.ops[phase]),
    ]),
  );
  const { products, gflop, replayMs, groups } = p.matmul;
  console.log(
    `The step's ${products} matrix products (forward + backward, ${gflop.toFixed(2)} GFLOP) replayed alone, grouped by shape: ` +
      `${replayMs.toFixed(0)} ms in all, ${(gflop / (replayMs / 1000)).toFixed(2)} GFLOP/s; ` +
      `${((100 * replayMs) / stepMs).toFixed(0)}% of a median step (${stepMs.toFixed(0)} ms).\n`,
  );
  if (p.attention) {
    const { calls, shape, replayMs: ms } = p.attention;
    console.log(
      `Its ${calls} fused attention calls (attention, q [${shape}]), forward + backward replayed alone: ` +
        `${ms.toFixed(0)} ms, ${((100 * ms) / stepMs).toFixed(0)}% of a median step.\n`,
    );
  }
  printTable(
    ['product (ᵀ: transposed view)', 'count', 'GFLOP', 'ms', 'GFLOP/s'],
    groups.map((g) => [
      g.shape,
      String(g.count),
      g.gflop.toFixed(3),
      g.ms.toFixed(0),
      (g.gflop / (g.ms / 1000)).toFixed(2),
    ]),
  );
}

async function runSuite(): Promise<void> {
  const torch = torchVersion();
  const impls = (['kiln-webgpu', 'tfjs', 'kiln-cpu', 'torch', 'torch-spin'] as const).filter(selected);
  const profile = process.env.BENCH_TRAIN_PROFILE !== '0';
  const loadStart = loadavg()[0];
  console.log(
    `GPT-2 family: ${MODEL.nLayers} layers, ${MODEL.nHeads} heads, d ${MODEL.dModel}, context ${MODEL.contextLength}, ` +
      `vocab ${MODEL.vocabSize}; batch ${BATCH} (${TOKENS_PER_STEP} tokens per step); AdamW. Random tokens, same for all.\n`,
  );
  const revision = gitRevision();
  console.log(
    `Code: commit ${revision.commit ?? '?'}${revision.modified.length > 0 ? ` + ${revision.modified.length} uncommitted files under packages/` : ''}.\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-train-'));
  const tokens = join(dir, 'batches.bin');
  writeTokenBatches(tokens, 32);

  const results: ImplResult[] = [];
  const errors: string[] = [];
  let kilnProfile: StepProfile | undefined;
  let flopsPerToken: number | undefined;
  try {
    for (const impl of impls) {
      if (impl.startsWith('torch') && !torch) {
        console.log(`${LABEL[impl]}: skipped (no torch in ${process.env.KILN_PYTHON ?? '/usr/bin/python3'})`);
        continue;
      }
      const start = performance.now();
      const outcome = run(impl, tokens, profile && impl === 'kiln-webgpu');
      if (!outcome.ok) {
        errors.push(`${LABEL[impl]}: ${outcome.error}`);
        console.log(`${LABEL[impl]}: FAILED (see errors below)`);
        continue;
      }
      const r = outcome.value;
      const stepMs = summarize(r.stepMs);
      const tokensPerSecond = summarize(r.stepMs.map((ms) => TOKENS_PER_STEP / (ms / 1000)));
      results.push({
        impl,
        label: LABEL[impl],
        tokensPerSecond,
        stepMs,
        warmupMs: r.warmupMs,
        losses: r.losses,
        parameters: r.parameters,
        loadAfter: outcome.loadAfter,
        notes: r.notes,
      });
      if (impl === 'kiln-webgpu' && r.profile) kilnProfile = r.profile as StepProfile;
      flopsPerToken ??= r.flopsPerToken;
      console.log(
        `${LABEL[impl]}: ${tokensPerSecond.median.toFixed(0)} tokens/s (${((performance.now() - start) / 1000).toFixed(0)} s, load ${outcome.loadAfter.toFixed(1)})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const byImpl = (impl: Impl) => results.find((r) => r.impl === impl);
  const kiln = byImpl('kiln-webgpu');
  console.log(
    '\nTokens per second, median (min–max) over timed steps; "Kiln webgpu ÷" = Kiln webgpu tokens/s over this one:\n',
  );
  printTable(
    [
      'implementation',
      'tokens/s',
      'ms/step',
      'achieved GFLOP/s',
      'Kiln webgpu ÷',
      'params',
      'last loss',
      'load after',
    ],
    results.map((r) => [
      r.label,
      formatSummary(r.tokensPerSecond, 0),
      formatSummary(r.stepMs, 0),
      flopsPerToken ? ((r.tokensPerSecond.median * flopsPerToken) / 1e9).toFixed(2) : '—',
      formatRatio(kiln ? kiln.tokensPerSecond.median / r.tokensPerSecond.median : undefined),
      String(r.parameters),
      (r.losses.at(-1) ?? Number.NaN).toFixed(3),
      r.loadAfter.toFixed(1),
    ]),
  );
  const ratio = (a: Impl, b: Impl) => {
    const x = byImpl(a);
    const y = byImpl(b);
    return x && y ? x.tokensPerSecond.median / y.tokensPerSecond.median : undefined;
  };
  console.log(`Kiln webgpu / TF.js webgpu: ${formatRatio(ratio('kiln-webgpu', 'tfjs'))}`);
  console.log(`Kiln cpu / PyTorch cpu: ${formatRatio(ratio('kiln-cpu', 'torch'))}`);
  console.log(`Kiln webgpu / PyTorch cpu: ${formatRatio(ratio('kiln-webgpu', 'torch'))}`);
  if (flopsPerToken) {
    console.log(
      `FLOPs per token (6·N + 12·layers·d·T): ${(flopsPerToken / 1e6).toFixed(2)} M; the cores' peak (${PEAK_GFLOPS} GFLOP/s) ` +
        `bounds a step at ${Math.round((PEAK_GFLOPS * 1e9) / flopsPerToken)} tokens/s.`,
    );
  }
  console.log(
    `The issue's reference numbers on this machine: TF.js ~${ISSUE_REFERENCE.tfjs} tokens/s, PyTorch ~${ISSUE_REFERENCE.torch} tokens/s.\n`,
  );
  if (kilnProfile && kiln) printProfile(kilnProfile, kiln.stepMs.median);
  for (const note of new Set(results.flatMap((r) => r.notes))) console.log(`note: ${note}`);
  const loadEnd = printErrorsAndLoad(errors, loadStart);

  writeResults('train', {
    revision,
    model: MODEL,
    batch: BATCH,
    tokensPerStep: TOKENS_PER_STEP,
    flopsPerToken: flopsPerToken ?? null,
    peakGflops: PEAK_GFLOPS,
    results,
    ratios: {
      kilnWebgpuOverTfjs: ratio('kiln-webgpu', 'tfjs') ?? null,
      kilnCpuOverTorch: ratio('kiln-cpu', 'torch') ?? null,
      kilnWebgpuOverTorch: ratio('kiln-webgpu', 'torch') ?? null,
    },
    issueReference: ISSUE_REFERENCE,
    kilnProfile: kilnProfile ?? null,
    errors,
    load: { start: loadStart, end: loadEnd },
  });
}

const suite: Suite = { name: 'train', run: runSuite };
export default suite;
