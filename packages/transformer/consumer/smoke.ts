// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { init, manualSeed, tensor } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';

await init({ backend: 'cpu' });
manualSeed(0);
const model = new GPT({ ...GPT.config('gpt2-tiny'), vocabSize: 64, nLayers: 1, dModel: 32, nHeads: 2 });
const ids = tensor([[1, 2, 3, 4]], { dtype: 'int32' });
const { loss } = model.forward(ids, tensor([[2, 3, 4, 5]], { dtype: 'int32' }));
const value = await loss!.item();
if (!(value > 0 && value < 10)) throw new Error(`loss ${value} is not a cross-entropy of 64 classes`);
const generated: number[] = [];
for await (const id of model.generate([1, 2, 3], { maxTokens: 4, seed: 1 })) generated.push(id);
if (generated.length !== 4) throw new Error(`generated ${generated.length} tokens, asked for 4`);
console.log(
  `@kiln/transformer: ${model.numParameters()} parameters, loss ${value.toFixed(3)}, generated ${generated}`,
);
