// Child process: runs one tensor-suite workload on Kiln and prints a ChildResult as its last line.
//   node --conditions=@kiln/source --import tsx kiln-child.ts <workload id> <webgpu|cpu>
// One process per workload keeps each measurement's memory and device state separate.
import { init, manualSeed } from '@kiln/tensor';
import { summarize, timeAsync } from '../harness.js';
import * as kiln from './kiln-ops.js';
import { rawCopies } from './raw-copy.js';
import { REFERENCE_MATMUL, referenceMatmul } from './reference-matmul.js';
import { type ChildResult, COPY_SHAPE, MASKED_ATTENTION, type Measurement, workloads } from './workloads.js';

const [id, backend = 'webgpu'] = process.argv.slice(2);
if (backend !== 'webgpu' && backend !== 'cpu')
  throw new Error(`backend must be webgpu or cpu, got ${backend}`);
const info = await init({ backend });
manualSeed(0);
const notes: string[] = [`${info.name}: ${info.device}`];

async function time(variant: string, prepared: kiln.Prepared, reps: number, samples: number, warmup: number) {
  const ms = await timeAsync(() => prepared.run(), samples, warmup);
  prepared.dispose();
  return { variant, msPerOp: ms.map((m) => m / reps) };
}

/**
 * Milliseconds of each sample of each of `prepared`, taken in rounds (one sample of each per
 * round) so that load changes hit all alike and their ratios hold; disposes them.
 */
async function interleaved(prepared: readonly kiln.Prepared[], samples: number, warmup: number) {
  for (const p of prepared) for (let i = 0; i < warmup; i++) await p.run();
  const ms = prepared.map((): number[] => []);
  for (let s = 0; s < samples; s++)
    for (const [i, p] of prepared.entries()) {
      const start = performance.now();
      await p.run();
      ms[i].push(performance.now() - start);
    }
  for (const p of prepared) p.dispose();
  return ms;
}

const FUSED_ATTENTION = 'Kiln fused attention';
const FUSED_ADAMW = 'Kiln fused adamwUpdate op';
const MASKED = {
  ranges: 'causal as visible ranges (1 document per row)',
  packed: `${MASKED_ATTENTION.documents} documents per row`,
  padded: `${MASKED_ATTENTION.padding * 100}% padding`,
};
const measurements: Measurement[] = [];
if (id === 'overhead') {
  const { roundTrip, chain } = kiln.overhead();
  measurements.push(await time('round trip', roundTrip, 1, 20, 3));
  measurements.push(await time('chain', chain, 1, 5, 1));
} else {
  const w = workloads().find((x) => x.id === id);
  if (!w) throw new Error(`unknown workload '${id}'`);
  const { reps, samples, warmup } = w;
  if (id.startsWith('matmul-')) {
    // the reference kernel on a device of our own, interleaved sample by sample with Kiln's
    const n = Number(id.slice(7));
    const prepared = kiln.matmul(n, reps);
    const reference =
      backend === 'webgpu'
        ? await referenceMatmul(n, reps, await prepared.inputs[0], await prepared.inputs[1])
        : undefined;
    if (!reference) {
      if (backend === 'webgpu')
        notes.push('reference matmul: not available here (needs subgroups and n a multiple of 64)');
      measurements.push(await time('', prepared, reps, samples, warmup));
    } else {
      const [kilnMs, refMs] = await interleaved([prepared, reference], samples, warmup);
      measurements.push({ variant: '', msPerOp: kilnMs.map((m) => m / reps) });
      measurements.push({ variant: REFERENCE_MATMUL, msPerOp: refMs.map((m) => m / reps), reference: true });
    }
  } else if (id === 'add') {
    measurements.push(await time('', kiln.add(reps), reps, samples, warmup));
  } else if (id === 'softmax') {
    measurements.push(await time('', kiln.softmax(reps), reps, samples, warmup));
  } else if (id === 'layernorm') {
    measurements.push(await time('', kiln.layerNorm(reps), reps, samples, warmup));
  } else if (id === 'attention') {
    measurements.push(await time('', kiln.attention(), 1, samples, warmup));
    const fusedAttention = kiln.fusedAttention();
    if (fusedAttention) measurements.push(await time(FUSED_ATTENTION, fusedAttention, 1, samples, warmup));
    else notes.push('fused attention: not available at this revision');
  } else if (id === 'attention-masked') {
    const masked = kiln.maskedAttention();
    if (!masked) notes.push('masked attention: not available at this revision');
    else {
      const lines = [
        ['', masked.causal],
        [MASKED.ranges, masked.ranges],
        [MASKED.packed, masked.packed],
        [MASKED.padded, masked.padded],
      ] as const;
      const timed = await interleaved(
        lines.map(([, prepared]) => prepared),
        samples,
        warmup,
      );
      measurements.push(...lines.map(([variant], i) => ({ variant, msPerOp: timed[i] })));
      const median = (m: Measurement) => summarize(m.msPerOp).median;
      const causal = median(measurements[0]);
      notes.push(
        `masked attention, tokens/s ÷ causal's (interleaved samples): ${measurements
          .slice(1)
          .map((m) => `${m.variant} ${(causal / median(m)).toFixed(2)}×`)
          .join(', ')}`,
      );
      const mask = await time('', masked.mask, 1, samples, warmup);
      notes.push(
        `attentionMask from segments [${MASKED_ATTENTION.B}, ${MASKED_ATTENTION.T}] (once per forward pass, shared by every layer): ${median(mask).toFixed(2)} ms`,
      );
    }
  } else if (id === 'adamw') {
    measurements.push(await time('', kiln.adamw(), 1, samples, warmup));
    const fusedAdamW = kiln.fusedAdamW();
    if (fusedAdamW) measurements.push(await time(FUSED_ADAMW, fusedAdamW, 1, samples, warmup));
    else notes.push('adamwUpdate: not available at this revision');
  } else if (id === 'copy') {
    const { plain, transposed } = kiln.copies(reps);
    measurements.push(await time('plain', plain, reps, samples, warmup));
    measurements.push(await time('transposed', transposed, reps, samples, warmup));
    if (backend === 'webgpu') {
      const bytes = COPY_SHAPE[0] * COPY_SHAPE[1] * 4;
      measurements.push(...(await rawCopies(bytes, reps, samples, warmup)));
    }
  } else {
    throw new Error(`no Kiln implementation of '${id}'`);
  }
}
const result: ChildResult = { measurements, notes };
console.log(JSON.stringify(result));
// Dawn keeps the event loop alive while its instance is referenced
process.exit(0);
