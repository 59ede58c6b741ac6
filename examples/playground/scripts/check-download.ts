// Loads a downloaded playground model directory the way examples/chat does (loadModel +
// tokenizer.json beside it) and continues a prompt: `tsx check-download.ts <dir>`.
import { join } from 'node:path';
import { init } from '@kiln/tensor';
import { Tokenizer } from '@kiln/tokenizer';
import { loadModel } from '@kiln/transformer/node';

const dir = process.argv[2];
await init({ backend: 'cpu' });
const model = await loadModel(dir);
const tokenizer = await Tokenizer.load(join(dir, 'tokenizer.json'));
const ids: number[] = [];
for await (const id of model.generate(tokenizer.encode('Call me'), { maxTokens: 8, seed: 1 })) ids.push(id);
console.log(
  `loadModel + tokenizer.json load (${model.numParameters()} parameters); "Call me" → ${JSON.stringify(tokenizer.decode(ids))}`,
);
