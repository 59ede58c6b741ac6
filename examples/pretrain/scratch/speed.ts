import { backward, noGrad } from '@kiln/autograd';
import { init, manualSeed, randint, scope } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';

const backend = (process.argv[2] ?? 'cpu') as 'cpu' | 'webgpu';
const [V, T, L, H, D, B] = (process.argv[3] ?? '512,64,2,4,64,16').split(',').map(Number);
await init({ backend });
manualSeed(0);
const model = new GPT({ family: 'gpt2', vocabSize: V, contextLength: T, nLayers: L, nHeads: H, dModel: D });
console.log(backend, { V, T, L, H, D, B }, 'params', model.numParameters());
const ids = randint(0, V, [B, T], { dtype: 'int32' });
const tg = randint(0, V, [B, T], { dtype: 'int32' });
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  const l = await scope(async () => {
    const { loss } = model.forward(ids, tg);
    backward(loss!);
    noGrad(() => {
      for (const p of model.parameters()) {
        p.assign(p.sub(p.grad!.mul(0.01)));
      }
    });
    model.zeroGrad();
    return await loss!.item();
  });
  const ms = performance.now() - t0;
  console.log(i, l.toFixed(4), ms.toFixed(0), 'ms', (((B * T) / ms) * 1000).toFixed(0), 'tok/s');
}
