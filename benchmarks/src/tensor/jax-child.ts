// Child process: runs one tensor-suite workload on jax-js (`@jax-js/jax`, its WebGPU backend on the
// same Dawn adapter as Kiln, through the `webgpu` package installed as `navigator.gpu`) and
// prints a ChildResult as its last line. Covers matmul, add and softmax; other workloads are
// reported as not implemented.
//   node --conditions=@kiln/source --import tsx jax-child.ts <workload id>
import { create, globals } from 'webgpu';
import { timeAsync } from '../harness.js';
import { type ChildResult, type Measurement, ROWS_SHAPE, workloads } from './workloads.js';

// jax-js finds WebGPU at navigator.gpu (a browser API); Node 24 has a navigator without it
Object.assign(globalThis, globals);
Object.defineProperty(globalThis.navigator, 'gpu', { value: create([]), configurable: true });
const jax = await import('@jax-js/jax');
const devices = await jax.init();
if (!devices.includes('webgpu')) throw new Error(`jax-js: no webgpu device (found ${devices.join(', ')})`);
jax.defaultDevice('webgpu');
const np = jax.numpy;
const key = jax.random.key(0);

type JaxArray = ReturnType<typeof np.ones>;

/**
 * `reps` results of `op` enqueued back to back, all kept until every one is ready, then freed.
 * jax-js evaluates lazily: a result freed before anything needs it is never computed (measured:
 * 8 products whose first 7 are freed early took as long as 1), so none is freed early here.
 * Arguments are passed as `.ref` (jax-js frees an array passed on without it).
 */
function repeat(op: () => JaxArray, reps: number): () => Promise<void> {
  return async () => {
    const results: JaxArray[] = [];
    for (let i = 0; i < reps; i++) results.push(op());
    await Promise.all(results.map((r) => r.blockUntilReady()));
    for (const r of results) r.dispose();
  };
}

const [id] = process.argv.slice(2);
const w = workloads().find((x) => x.id === id);
if (!w) throw new Error(`unknown workload '${id}'`);
const { reps, samples, warmup } = w;
const normal = (shape: number[]) => jax.random.normal(key.ref, shape);
let run: () => Promise<void>;
let inputs: JaxArray[];
if (id.startsWith('matmul-')) {
  const n = Number(id.slice(7));
  inputs = [normal([n, n]), normal([n, n])];
  run = repeat(() => np.matmul(inputs[0].ref, inputs[1].ref), reps);
} else if (id === 'add') {
  inputs = [normal([...ROWS_SHAPE]), normal([...ROWS_SHAPE])];
  run = repeat(() => np.add(inputs[0].ref, inputs[1].ref), reps);
} else if (id === 'softmax') {
  inputs = [normal([...ROWS_SHAPE])];
  run = repeat(() => jax.nn.softmax(inputs[0].ref, -1), reps);
} else {
  throw new Error(`no jax-js implementation of '${id}'`);
}
const ms = await timeAsync(run, samples, warmup);
const measurements: Measurement[] = [{ variant: '', msPerOp: ms.map((m) => m / reps) }];
const result: ChildResult = {
  measurements,
  notes: ['jax-js @jax-js/jax 0.1.25, device webgpu (Dawn via the webgpu package as navigator.gpu)'],
};
console.log(JSON.stringify(result));
process.exit(0);
