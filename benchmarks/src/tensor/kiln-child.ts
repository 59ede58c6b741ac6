// Child process: runs one tensor-suite workload on Kiln and prints a ChildResult as its last line.
//   node --conditions=@kiln/source --import tsx kiln-child.ts <workload id> <webgpu|cpu>
// One process per workload keeps each measurement's memory and device state separate.
import { init, manualSeed } from '@kiln/tensor';
import { timeAsync } from '../harness.js';
import * as kiln from './kiln-ops.js';
import { rawCopies } from './raw-copy.js';
import { type ChildResult, COPY_SHAPE, type Measurement, workloads } from './workloads.js';

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

const FUSED_ATTENTION = 'Kiln fused attention';
const FUSED_ADAMW = 'Kiln fused adamwUpdate op';
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
    measurements.push(await time('', kiln.matmul(Number(id.slice(7)), reps), reps, samples, warmup));
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
