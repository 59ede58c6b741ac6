// Child process: the first training steps of a fresh process on WebGPU (see steps.ts); prints
// the FirstStepsRun as one JSON line, its last output.
//   node --conditions=@kiln/source --import tsx first-steps.ts <steps> <batch> <context>
// `KILN_WEBGPU_WAIT=plain` in the environment turns the executor's paced waits off.
import { firstSteps } from './steps.js';

const [steps = '12', batch = '4', context = '32'] = process.argv.slice(2);
console.log(JSON.stringify(await firstSteps(Number(steps), Number(batch), Number(context))));
process.exit(0);
