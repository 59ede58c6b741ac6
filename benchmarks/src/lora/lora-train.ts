// Child process: times training steps of the train suite's small GPT, fully fine-tuned or with
// LoRA adapters (@kiln/transformer's applyLoRA), with @kiln/trainer's AdamW over
// defaultParamGroups (what the Trainer builds), and prints a LoRAStepResult as its last line.
//   node --conditions=@kiln/source --import tsx lora-train.ts <webgpu|cpu> <full|lora> <tokens file> <warmup> <steps>
// A step: batch upload, forward with the loss, backward, AdamW update, zeroGrad, loss read back.
import { backward } from '@kiln/autograd';
import { init, manualSeed, type Tensor, tensor } from '@kiln/tensor';
import { AdamW, defaultParamGroups } from '@kiln/trainer';
import { applyLoRA, GPT } from '@kiln/transformer';
import { ADAMW, BATCH, MODEL, readTokenBatches } from '../train/config.js';
import { LORA, type LoRAStepResult } from './config.js';

const [backendArg, modeArg, tokensPath, warmupArg, stepsArg] = process.argv.slice(2);
const backend = backendArg === 'cpu' ? 'cpu' : 'webgpu';
const mode = modeArg === 'lora' ? 'lora' : 'full';
const info = await init({ backend });
manualSeed(0);
const model = new GPT({ family: 'gpt2', ...MODEL });
if (mode === 'lora') applyLoRA(model, { ...LORA, seed: 1 });
const opt = new AdamW(defaultParamGroups(model, { weightDecay: ADAMW.weightDecay }), {
  lr: ADAMW.lr,
  betas: ADAMW.betas,
  eps: ADAMW.eps,
  weightDecay: ADAMW.weightDecay,
});
const batch = readTokenBatches(tokensPath);
const T = MODEL.contextLength;

async function step(i: number): Promise<number> {
  const { inputs, targets } = batch(i);
  const ids: Tensor = tensor(inputs, { shape: [BATCH, T], dtype: 'int32' });
  const tgt: Tensor = tensor(targets, { shape: [BATCH, T], dtype: 'int32' });
  const out = model.forward(ids, tgt);
  backward(out.loss!);
  opt.step();
  opt.zeroGrad();
  const value = await out.loss!.item();
  for (const t of [out.loss!, out.logits, ids, tgt]) t.dispose();
  return value;
}

const warmup = Math.max(1, Number(warmupArg));
const steps = Number(stepsArg);
for (let i = 0; i < warmup; i++) await step(i);
const stepMs: number[] = [];
const losses: number[] = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  losses.push(await step(warmup + i));
  stepMs.push(performance.now() - start);
}
const params = model.parameters();
const state = Object.values(opt.stateDict().tensors);
const result: LoRAStepResult = {
  stepMs,
  losses,
  totalParams: params.reduce((n, p) => n + p.size, 0),
  trainableParams: params.filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0),
  optimizerStateBytes: state.reduce((n, t) => n + t.size * (t.dtype === 'float16' ? 2 : 4), 0),
  device: `${info.name}: ${info.device}`,
};
console.log(JSON.stringify(result));
// Dawn keeps the event loop alive while its instance is referenced
process.exit(0);
