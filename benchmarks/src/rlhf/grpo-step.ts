// Child process: times GRPO steps of @kiln/rlhf's GRPOTrainer on a GPT the size of the
// examples' (GPT-2 family, 2 layers, d 64, context 32, vocab 512), with random prompts and a
// synthetic reward, and prints a GRPOBenchResult as its last line.
//   node --conditions=@kiln/source --import tsx grpo-step.ts <webgpu|cpu> <prompts> <group> <maxTokens> <warmup> <steps>
// Each step: all prompts × group completions generated in one batched, KV-cached pass
// (generateBatch), scored, then one optimizer step over the clipped loss (the reference's
// forward for the KL included).
import { GRPOTrainer } from '@kiln/rlhf';
import { init, manualSeed } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import type { GRPOBenchResult } from './config.js';
import { RLHF_MODEL } from './config.js';

const [backendArg, promptsArg, groupArg, maxTokensArg, warmupArg, stepsArg] = process.argv.slice(2);
const info = await init({ backend: backendArg === 'cpu' ? 'cpu' : 'webgpu' });
manualSeed(0);
const policy = new GPT({ family: 'gpt2', ...RLHF_MODEL });
manualSeed(0);
const reference = new GPT({ family: 'gpt2', ...RLHF_MODEL });
const maxTokens = Number(maxTokensArg);
const promptLength = RLHF_MODEL.contextLength - maxTokens;
let seed = 1;
const random = () => {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
};
const prompts = Array.from({ length: 64 }, (_, i) => ({
  ids: Array.from({ length: promptLength - (i % 4) }, () => 1 + Math.floor(random() * 500)),
  text: `prompt ${i}`,
  example: i,
}));
const trainer = new GRPOTrainer({
  policy,
  reference,
  prompts,
  // a synthetic reward: the parity of the completion's length, so groups have a spread
  rewards: [{ name: 'parity', fn: (_p, completion) => (completion.length % 2 === 0 ? 1 : 0) }],
  decode: (ids) => ids.join(' '),
  stopTokens: [0],
  config: {
    promptsPerStep: Number(promptsArg),
    groupSize: Number(groupArg),
    maxCompletionTokens: maxTokens,
    schedule: { kind: 'constant', lr: 1e-4 },
  },
});
const warmup = Math.max(1, Number(warmupArg));
for (let i = 0; i < warmup; i++) await trainer.step();
const result: GRPOBenchResult = {
  stepMs: [],
  generationMs: [],
  optimisationMs: [],
  rolloutTokensPerSecond: [],
  device: `${info.name}: ${info.device}`,
};
for (let i = 0; i < Number(stepsArg); i++) {
  const start = performance.now();
  const s = await trainer.step();
  result.stepMs.push(performance.now() - start);
  result.generationMs.push(s.generationSeconds * 1000);
  result.optimisationMs.push(s.optimisationSeconds * 1000);
  result.rolloutTokensPerSecond.push(s.rolloutTokensPerSecond);
}
console.log(JSON.stringify(result));
