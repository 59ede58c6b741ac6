import { backward } from '@kiln/autograd';
import { init, manualSeed, randint, scope } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import { AdamW, clipGradNorm, defaultParamGroups } from '@kiln/trainer';

const backend = (process.argv[2] ?? 'cpu') as 'cpu' | 'webgpu';
const [V, T, L, H, D, B] = (process.argv[3] ?? '64,32,1,2,32,8').split(',').map(Number);
await init({ backend });
manualSeed(0);
const model = new GPT({ family: 'gpt2', vocabSize: V, contextLength: T, nLayers: L, nHeads: H, dModel: D, tieEmbeddings: false });
const opt = new AdamW(defaultParamGroups(model, { weightDecay: 0.1 }), { lr: 1e-3 });
const ids = randint(0, V, [B, T], { dtype: 'int32' });
const tg = randint(0, V, [B, T], { dtype: 'int32' });
const N = 20;
const wall = [0, 0, 0];
const cpu = [0, 0, 0];
for (let i = 0; i < N + 2; i++) {
  await scope(async () => {
    const marks: [number, NodeJS.CpuUsage][] = [[performance.now(), process.cpuUsage()]];
    const mark = () => marks.push([performance.now(), process.cpuUsage()]);
    const { loss } = model.forward(ids, tg);
    await loss!.item();
    mark();
    backward(loss!);
    await model.parameters()[0].grad!.data();
    mark();
    const n = clipGradNorm(model.parameters(), 1);
    opt.step();
    model.zeroGrad();
    await n.item();
    mark();
    if (i >= 2)
      for (let k = 0; k < 3; k++) {
        wall[k] += marks[k + 1][0] - marks[k][0];
        cpu[k] += (marks[k + 1][1].user - marks[k][1].user + marks[k + 1][1].system - marks[k][1].system) / 1000;
      }
  });
}
const f = (xs: number[]) => xs.map((x) => (x / N).toFixed(1)).join(' / ');
console.log(backend, { V, T, L, H, D, B }, `forward / backward / clip+adamw: wall ${f(wall)} ms, cpu ${f(cpu)} ms`);
