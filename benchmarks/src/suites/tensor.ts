// Kiln's tensor kernels against TF.js and jax-js (matmul, add, softmax) on the same WebGPU
// adapter, with Kiln's CPU backend and PyTorch (CPU) as reference lines, and Kiln's matmul as a
// ratio of a plain reference WGSL kernel (reference-matmul.ts) timed interleaved with it.
//   matmul f32 256…2048 (GFLOP/s); add, softmax and layerNorm on [4096, 1024] (GB/s of bytes that
//   must move); causal attention forward + backward (GFLOP/s), and Kiln's fused attention causal
//   vs packed documents vs padding (tokens/s, Kiln only); an AdamW step over 10M parameters
//   (GB/s); copies of 64 MiB (GB/s), whose raw-WebGPU variants give the bandwidth roof; and the
//   fixed costs (readback round trip, per-dispatch cost).
// Each (workload, library) runs in its own child process (src/tensor/*-child.ts); each sample
// enqueues `reps` ops and ends when a readback of the last result resolves; warm-up samples
// (shader compilation, first allocations, matmul autotuning) are not timed. Roofline: FLOPs over
// BENCH_PEAK_GFLOPS (default 230: two cores of 256-bit FMA) and bytes over the measured copy
// bandwidth. Method and numbers: docs/performance.md.
// Environment: BENCH_SAMPLES (samples per workload), BENCH_SAMPLES_LARGE (matmul 2048, default 3),
// BENCH_WORKLOADS (comma-separated ids or prefixes: matmul,add,softmax,layernorm,attention,
// attention-masked,adamw,copy,overhead), BENCH_PEAK_GFLOPS, KILN_PYTHON (a python3 with torch; default /usr/bin/python3),
// BENCH_JAX=0 (leave out jax-js).
import { loadavg } from 'node:os';
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
  addMeasurements,
  floor,
  kilnOverJax,
  kilnOverTfjs,
  LIBRARY_LABEL,
  type Library,
  printRates,
  printRoofline,
  printTimes,
  type Row,
} from '../tensor/report.js';
import {
  type ChildResult,
  COPY_SHAPE,
  OVERHEAD_CHAIN,
  type Workload,
  workloads,
} from '../tensor/workloads.js';

const DIR = join(import.meta.dirname, '..', 'tensor');
const PYTHON_SCRIPT = join(import.meta.dirname, '..', '..', 'python', 'tensor_ops.py');
const PEAK_GFLOPS = Number(process.env.BENCH_PEAK_GFLOPS ?? 230);
const COPY_BYTES = 2 * COPY_SHAPE[0] * COPY_SHAPE[1] * 4;

function selected(id: string): boolean {
  const filter = process.env.BENCH_WORKLOADS;
  if (!filter) return true;
  return filter.split(',').some((f) => f.trim() !== '' && id.startsWith(f.trim()));
}

interface RawLine {
  variant: string;
  gbps: Summary;
}

async function run(): Promise<void> {
  const list = workloads().filter((w) => selected(w.id));
  const torch = torchVersion();
  const loadStart = loadavg()[0];
  console.log(
    `Each workload runs in fresh processes: Kiln webgpu, TF.js webgpu${torch ? `, PyTorch ${torch} (2 threads, OMP_WAIT_POLICY=PASSIVE)` : ''}, Kiln cpu for matmul ≤ 512.`,
  );
  if (!torch)
    console.log('PyTorch: skipped (no torch in /usr/bin/python3; set KILN_PYTHON to a python3 that has it).');
  const revision = gitRevision();
  console.log(
    `Code: commit ${revision.commit ?? '?'}${revision.modified.length > 0 ? ` + ${revision.modified.length} uncommitted files under packages/` : ''}.`,
  );
  console.log(
    'Medians with (min–max) over samples; a sample ends when a readback of the last result resolves.\n',
  );

  const rows: Row[] = [];
  const raw: RawLine[] = [];
  /** Kiln's matmul and the reference kernel, timed interleaved in one child (GFLOP/s). */
  const references: { workload: string; variant: string; kiln: Summary; reference: Summary }[] = [];
  const errors: string[] = [];
  const notes = new Set<string>();
  const loads: Record<string, number> = {};

  const record = (w: Workload, library: Library, outcome: ChildOutcome<ChildResult>) => {
    loads[`${w.id} ${library}`] = outcome.loadAfter;
    if (!outcome.ok) {
      errors.push(`${w.id} ${LIBRARY_LABEL[library]}: ${outcome.error}`);
      console.log(`  ${LIBRARY_LABEL[library]}: FAILED (see errors below)`);
      return;
    }
    for (const n of outcome.value.notes) notes.add(n);
    addMeasurements(rows, w, library, outcome.value.measurements);
    for (const m of outcome.value.measurements) {
      if (m.reference) {
        const kilnLine = outcome.value.measurements.find((k) => k.variant === '' && !k.reference);
        const gflops = (ms: number[]) => summarize(ms.map((t) => w.flops / (t * 1e6)));
        if (kilnLine)
          references.push({
            workload: w.label,
            variant: m.variant,
            kiln: gflops(kilnLine.msPerOp),
            reference: gflops(m.msPerOp),
          });
      }
      if (m.raw)
        raw.push({ variant: m.variant, gbps: summarize(m.msPerOp.map((ms) => COPY_BYTES / (ms * 1e6))) });
    }
  };

  for (const w of list) {
    const start = performance.now();
    record(w, 'kiln', runNode<ChildResult>(join(DIR, 'kiln-child.ts'), [w.id, 'webgpu']));
    if (!w.kilnOnly) record(w, 'tfjs', runNode<ChildResult>(join(DIR, 'tfjs-child.ts'), [w.id]));
    if (w.cpu) record(w, 'cpu', runNode<ChildResult>(join(DIR, 'kiln-child.ts'), [w.id, 'cpu']));
    if (JAX && jaxRuns(w.id)) record(w, 'jax', runNode<ChildResult>(join(DIR, 'jax-child.ts'), [w.id]));
    const done = rows.filter((r) => r.workload.id === w.id);
    const brief = done
      .map(
        (r) =>
          `${r.variant || 'kiln/tfjs'} ${r.cells.kiln?.rate.median.toFixed(2) ?? '—'} / ${r.cells.tfjs?.rate.median.toFixed(2) ?? '—'}`,
      )
      .join('; ');
    console.log(
      `${w.label}: ${brief} ${w.unit} (${((performance.now() - start) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(1)})`,
    );
  }

  if (torch && list.length > 0) {
    const spec = list
      .filter((w) => !w.kilnOnly)
      .map(({ id, reps, samples, warmup }) => ({ id, reps, samples, warmup }));
    const outcome = runPython<Record<string, ChildResult>>(PYTHON_SCRIPT, [JSON.stringify(spec)], TORCH_ENV);
    if (outcome.ok) {
      for (const w of list) {
        const result = outcome.value[w.id];
        if (result) record(w, 'torch', { ok: true, value: result, loadAfter: outcome.loadAfter });
      }
    } else {
      errors.push(`PyTorch: ${outcome.error}`);
    }
  }

  // fixed costs: one tiny op + readback, and a chain of tiny dependent ops + one readback
  const overhead: Partial<Record<'kiln' | 'tfjs', { roundTripMs: Summary; perDispatchMs: number }>> = {};
  if (selected('overhead')) {
    for (const [library, script] of [
      ['kiln', 'kiln-child.ts'],
      ['tfjs', 'tfjs-child.ts'],
    ] as const) {
      const outcome = runNode<ChildResult>(join(DIR, script), ['overhead', 'webgpu']);
      if (!outcome.ok) {
        errors.push(`overhead ${library}: ${outcome.error}`);
        continue;
      }
      const [roundTrip, chain] = outcome.value.measurements;
      const rt = summarize(roundTrip.msPerOp);
      const ch = summarize(chain.msPerOp);
      overhead[library] = { roundTripMs: rt, perDispatchMs: (ch.median - rt.median) / (OVERHEAD_CHAIN - 1) };
    }
  }

  // the bandwidth roof: the fastest raw copy the adapter managed (median)
  const roof = raw.reduce<RawLine | null>(
    (best, r) => (!best || r.gbps.median > best.gbps.median ? r : best),
    null,
  );
  const roofGBps = roof?.gbps.median ?? Number.NaN;

  console.log(
    `\nRates (median (min–max)); Kiln/TF.js = Kiln's rate ÷ TF.js's (above 1: Kiln is faster; a Kiln-only variant is compared with its workload's TF.js line):\n`,
  );
  printRates(rows);
  console.log('Milliseconds per op:\n');
  printTimes(rows);
  if (raw.length > 0) {
    console.log(
      'Adapter copy bandwidth, 64 MiB buffer, GB/s of bytes read + written (raw WebGPU, no library):\n',
    );
    printTable(
      ['copy', 'GB/s'],
      raw.map((r) => [r.variant, formatSummary(r.gbps, 2)]),
    );
    console.log(
      `Roofline: compute at ${PEAK_GFLOPS} GFLOP/s, memory at ${roofGBps.toFixed(2)} GB/s (${roof?.variant}); % of roof = floor ÷ measured time:\n`,
    );
    printRoofline(rows, PEAK_GFLOPS, roofGBps);
  }
  if (references.length > 0) {
    console.log(
      `Kiln's matmul against the reference kernel (${references[0].variant}; a plain WGSL kernel on the same adapter, timed interleaved with Kiln's in one process), GFLOP/s:\n`,
    );
    printTable(
      ['workload', 'Kiln webgpu', 'reference kernel', 'Kiln/reference'],
      references.map((r) => [
        r.workload,
        formatSummary(r.kiln, 2),
        formatSummary(r.reference, 2),
        formatRatio(r.kiln.median / r.reference.median),
      ]),
    );
  }
  if (overhead.kiln || overhead.tfjs) {
    console.log(
      `Fixed costs (4096-element adds): round trip = one op + readback; per dispatch = (chain of ${OVERHEAD_CHAIN} − round trip) / ${OVERHEAD_CHAIN - 1}:\n`,
    );
    printTable(
      ['library', 'round trip ms', 'per dispatch ms'],
      (['kiln', 'tfjs'] as const)
        .filter((l) => overhead[l])
        .map((l) => [
          LIBRARY_LABEL[l],
          formatSummary(overhead[l]!.roundTripMs, 2),
          overhead[l]!.perDispatchMs.toFixed(3),
        ]),
    );
  }
  for (const n of notes) console.log(`note: ${n}`);
  const loadEnd = printErrorsAndLoad(errors, loadStart);

  writeResults('tensor', {
    revision,
    peakGflops: PEAK_GFLOPS,
    roofGBps,
    roofSource: roof?.variant ?? null,
    rows: rows.map((r) => ({
      id: r.workload.id,
      variant: r.variant,
      label: r.label,
      unit: r.workload.unit,
      flops: r.workload.flops,
      bytes: r.workload.bytes,
      reps: r.workload.reps,
      floor: Number.isFinite(roofGBps) ? floor(r.workload, PEAK_GFLOPS, roofGBps) : null,
      kilnOverTfjs: kilnOverTfjs(r, rows) ?? null,
      kilnOverJax: kilnOverJax(r) ?? null,
      ...r.cells,
    })),
    rawCopies: raw,
    referenceMatmul: references.map((r) => ({ ...r, kilnOverReference: r.kiln.median / r.reference.median })),
    overhead,
    notes: [...notes],
    errors,
    load: { start: loadStart, end: loadEnd, afterEachChild: loads },
  });
}

/** `BENCH_JAX=0` leaves out jax-js (a second WebGPU peer, for matmul, add and softmax only). */
const JAX = process.env.BENCH_JAX !== '0';
/** The workloads jax-child.ts implements. */
const jaxRuns = (id: string) => id.startsWith('matmul-') || id === 'add' || id === 'softmax';

const suite: Suite = { name: 'tensor', run };
export default suite;
