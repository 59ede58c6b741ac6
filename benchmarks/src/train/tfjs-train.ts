// Child process: times training steps of the TF.js GPT (tfjs-gpt.ts) on TF.js's WebGPU backend
// (same Dawn adapter as Kiln) with AdamW written in tf ops, and prints a TrainResult.
//   node --conditions=@kiln/source --import tsx tfjs-train.ts <tokens file> <warmup> <steps>
// A step: batch upload, tf.variableGrads of the loss, the AdamW update, and the loss read back.
import { TfAdamW } from '../tensor/tfjs-adamw.js';
import { loadTfjs } from '../tensor/tfjs-setup.js';
import { ADAMW, BATCH, MODEL, readTokenBatches, type TrainResult } from './config.js';
import { TfGpt } from './tfjs-gpt.js';

const [tokensPath, warmupArg, stepsArg] = process.argv.slice(2);
const tf = await loadTfjs();
const model = new TfGpt(tf);
const variables = model.variables();
const opt = new TfAdamW(tf, variables, ADAMW);
const batch = readTokenBatches(tokensPath);
const T = MODEL.contextLength;

async function step(i: number): Promise<number> {
  const { inputs, targets } = batch(i);
  const ids = tf.tensor2d(inputs, [BATCH, T], 'int32');
  const tgt = tf.tensor2d(targets, [BATCH, T], 'int32');
  const { value, grads } = tf.variableGrads(() => model.loss(ids, tgt), variables);
  opt.step(variables.map((v) => grads[v.name]));
  const loss = (await value.data())[0];
  tf.dispose([value, ids, tgt, ...Object.values(grads)]);
  return loss;
}

const warmup = Number(warmupArg);
const steps = Number(stepsArg);
const warmupMs: number[] = [];
for (let i = 0; i < warmup; i++) {
  const start = performance.now();
  await step(i);
  warmupMs.push(performance.now() - start);
}
const stepMs: number[] = [];
const losses: number[] = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  losses.push(await step(warmup + i));
  stepMs.push(performance.now() - start);
}
const result: TrainResult = {
  stepMs,
  losses,
  warmupMs,
  parameters: model.numParameters(),
  notes: [
    `TF.js ${tf.version.tfjs}, backend ${tf.getBackend()}, ${tf.memory().numTensors} live tensors at the end`,
  ],
};
console.log(JSON.stringify(result));
// Dawn keeps the event loop alive while its instance is referenced
process.exit(0);
