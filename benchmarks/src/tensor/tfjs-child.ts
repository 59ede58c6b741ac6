// Child process: runs one tensor-suite workload on TF.js (WebGPU backend, same Dawn adapter as
// Kiln) and prints a ChildResult as its last line.
//   node --conditions=@kiln/source --import tsx tfjs-child.ts <workload id>
import { timeAsync } from '../harness.js';
import * as ops from './tfjs-ops.js';
import { loadTfjs } from './tfjs-setup.js';
import { type ChildResult, type Measurement, workloads } from './workloads.js';

const [id] = process.argv.slice(2);
const tf = await loadTfjs();
const notes = [`TF.js ${tf.version.tfjs}, backend ${tf.getBackend()}`];

async function time(variant: string, prepared: ops.Prepared, reps: number, samples: number, warmup: number) {
  const ms = await timeAsync(() => prepared.run(), samples, warmup);
  prepared.dispose();
  return { variant, msPerOp: ms.map((m) => m / reps) };
}

const measurements: Measurement[] = [];
if (id === 'overhead') {
  const { roundTrip, chain } = ops.overhead(tf);
  measurements.push(await time('round trip', roundTrip, 1, 20, 3));
  measurements.push(await time('chain', chain, 1, 5, 1));
} else {
  const w = workloads().find((x) => x.id === id);
  if (!w) throw new Error(`unknown workload '${id}'`);
  const { reps, samples, warmup } = w;
  if (id.startsWith('matmul-')) {
    measurements.push(await time('', ops.matmul(tf, Number(id.slice(7)), reps), reps, samples, warmup));
  } else if (id === 'add') {
    measurements.push(await time('', ops.add(tf, reps), reps, samples, warmup));
  } else if (id === 'softmax') {
    measurements.push(await time('', ops.softmax(tf, reps), reps, samples, warmup));
  } else if (id === 'layernorm') {
    const { ops: composed, layer } = ops.layerNorm(tf, reps);
    measurements.push(await time('', composed, reps, samples, warmup));
    measurements.push(await time('tf.layers.layerNormalization', layer, reps, samples, warmup));
  } else if (id === 'attention') {
    measurements.push(await time('', ops.attention(tf), 1, samples, warmup));
  } else if (id === 'adamw') {
    measurements.push(await time('', ops.adamw(tf), 1, samples, warmup));
    measurements.push(await time('tf.train.adam (Adam, no weight decay)', ops.adam(tf), 1, samples, warmup));
  } else if (id === 'copy') {
    measurements.push(await time('transposed', ops.transposedCopy(tf, reps), reps, samples, warmup));
  } else {
    throw new Error(`no TF.js implementation of '${id}'`);
  }
}
const result: ChildResult = { measurements, notes };
console.log(JSON.stringify(result));
// Dawn keeps the event loop alive while its instance is referenced
process.exit(0);
