// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { moeFeedForward } from '@kiln/moe';
import { init, tensor } from '@kiln/tensor';
import { GPT, type GPTConfig } from '@kiln/transformer';

await init({ backend: 'cpu' });
const config: GPTConfig = {
  family: 'llama',
  vocabSize: 32,
  contextLength: 8,
  nLayers: 2,
  nHeads: 2,
  dModel: 16,
};
config.feedForward = moeFeedForward(config, { experts: 4, topK: 2, expertDFF: 8 });
const model = new GPT(config);
const total = model.numParameters();
const active = model.activeParameters();
if (!(active < total)) throw new Error(`active parameters ${active} should be fewer than total ${total}`);
const ids = tensor([[1, 2, 3, 4]], { dtype: 'int32' });
const { loss, auxLosses } = model.forward(ids, { targets: tensor([[2, 3, 4, 5]], { dtype: 'int32' }) });
const value = (await loss!.toArray()) as number;
if (!Number.isFinite(value)) throw new Error(`loss is ${value}`);
console.log(
  `@kiln/moe: ${total} parameters, ${active} active; loss ${value.toFixed(3)}, aux losses: ${Object.keys(auxLosses ?? {}).join(', ')}`,
);
