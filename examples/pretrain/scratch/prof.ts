import { backward } from '@kiln/autograd';
import { init, manualSeed, randint, scope } from '@kiln/tensor';
import { AdamW, clipGradNorm, defaultParamGroups } from '@kiln/trainer';
import { GPT } from '@kiln/transformer';

const backend = (process.argv[2] ?? 'cpu') as 'cpu' | 'webgpu';
const [V, T, L, H, D, B] = (process.argv[3] ?? '64,32,1,2,32,8').split(',').map(Number);
await init({ backend });
manualSeed(0);
const model = new GPT({ family: 'gpt2', vocabSize: V, contextLength: T, nLayers: L, nHeads: H, dModel: D });
const opt = new AdamW(defaultParamGroups(model, { weightDecay: 0.1 }), { lr: 1e-3 });
const ids = randint(0, V, [B, T], { dtype: 'int32' });
const tg = randint(0, V, [B, T], { dtype: 'int32' });
let tf = 0,
  tb = 0,
  to = 0;
const N = 20;
for (let i = 0; i < N + 2; i++) {
  await scope(async () => {
    const t0 = performance.now();
    const { loss } = model.forward(ids, tg);
    await loss!.item();
    const t1 = performance.now();
    backward(loss!);
    await model.parameters()[0].grad!.data();
    const t2 = performance.now();
    const n = clipGradNorm(model.parameters(), 1);
    opt.step();
    model.zeroGrad();
    await n.item();
    const t3 = performance.now();
    if (i >= 2) {
      tf += t1 - t0;
      tb += t2 - t1;
      to += t3 - t2;
    }
  });
}
console.log(
  backend,
  { V, T, L, H, D, B },
  'params',
  model.numParameters(),
  `forward ${(tf / N).toFixed(1)} ms, backward ${(tb / N).toFixed(1)} ms, clip+adamw ${(to / N).toFixed(1)} ms; ${(((B * T * N) / (tf + tb + to)) * 1000).toFixed(0)} tok/s`,
);
