// Child process: times training steps of Kiln's GPT (@kiln/transformer) with @kiln/trainer's
// AdamW and prints a TrainResult as its last line.
//   node --conditions=@kiln/source --import tsx kiln-train.ts <webgpu|cpu> <tokens file> <warmup> <steps> [profile]
// A step: batch upload, forward with the loss, backward, AdamW update, zeroGrad, and the loss
// read back (the one readback per step a training loop that logs every step makes).
import { backward } from '@kiln/autograd';
import { init, manualSeed, scope, type Tensor, tensor } from '@kiln/tensor';
import { AdamW } from '@kiln/trainer';
import { GPT } from '@kiln/transformer';
import { ADAMW, BATCH, MODEL, readTokenBatches, type TrainResult } from './config.js';
import { profileStep } from './kiln-profile.js';

const [backendArg, tokensPath, warmupArg, stepsArg, profileArg] = process.argv.slice(2);
const backend = backendArg === 'cpu' ? 'cpu' : 'webgpu';
const info = await init({ backend });
manualSeed(0);
const model = new GPT({ family: 'gpt2', ...MODEL });
const opt = new AdamW(model.namedParameters(), {
  lr: ADAMW.lr,
  betas: ADAMW.betas,
  eps: ADAMW.eps,
  weightDecay: ADAMW.weightDecay,
});
const batch = readTokenBatches(tokensPath);
const T = MODEL.contextLength;
const notes = [`${info.name}: ${info.device}`];

/** Mean cross-entropy, fused (crossEntropy) or, after it failed once, logSoftmax + gather. */
let fallbackLoss = false;
function loss(ids: Tensor, targets: Tensor): Tensor {
  if (!fallbackLoss) {
    const out = model.forward(ids, targets);
    out.logits.dispose();
    return out.loss!;
  }
  const { logits } = model.forward(ids);
  return scope(() => logits.logSoftmax(-1).gather(-1, targets.unsqueeze(-1)).mean().neg());
}

function batchTensors(i: number): { ids: Tensor; targets: Tensor } {
  const { inputs, targets } = batch(i);
  return {
    ids: tensor(inputs, { shape: [BATCH, T], dtype: 'int32' }),
    targets: tensor(targets, { shape: [BATCH, T], dtype: 'int32' }),
  };
}

async function step(i: number): Promise<number> {
  const { ids, targets } = batchTensors(i);
  const l = loss(ids, targets);
  backward(l);
  opt.step();
  opt.zeroGrad();
  const value = await l.item();
  for (const t of [l, ids, targets]) t.dispose();
  return value;
}

/** The first step, retried once with the fallback loss if the fused cross-entropy fails. */
async function firstStep(): Promise<number> {
  try {
    return await step(0);
  } catch (err) {
    const message = (err as Error).message;
    if (!/cross.?entropy/i.test(message)) throw err;
    notes.push(
      `crossEntropy failed on ${backend} (${message.split('\n')[0]}); the loss is logSoftmax + gather instead`,
    );
    fallbackLoss = true;
    model.zeroGrad();
    return step(0);
  }
}

const warmup = Math.max(1, Number(warmupArg));
const steps = Number(stepsArg);
const warmupMs: number[] = [];
for (let i = 0; i < warmup; i++) {
  const start = performance.now();
  if (i === 0) await firstStep();
  else await step(i);
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
  // 6·N + 12·layers·d·T: forward + backward FLOPs per token (PaLM's convention)
  flopsPerToken: model.flopsPerToken(T),
  notes,
  profile:
    profileArg === 'profile'
      ? await profileStep(model, opt, () => batchTensors(warmup + steps), loss)
      : undefined,
};
console.log(JSON.stringify(result));
// Dawn keeps the event loop alive while its instance is referenced
process.exit(0);
