// `pnpm --filter @kiln/example-chat export -- [--model <dir>] [--tokenizer <file>] [--out <dir>]`:
// a float16 model directory for run.mjs (default: the chat's default checkpoint → runs/chat-f16).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { init } from '@kiln/tensor';
import { findCheckpoint } from './checkpoint.js';
import { exportFloat16 } from './export-fp16.js';

const USAGE = `Write a float16 model directory (model.safetensors + config.json + tokenizer.json) for run.mjs.

usage: pnpm --filter @kiln/example-chat export -- [flags]

  --model <dir>        model directory (default: runs/finetune/full/model, else runs/pretrain/model)
  --tokenizer <file>   tokenizer.json (default: in the model directory or its parent)
  --out <dir>          where to write it (default runs/chat-f16)`;

async function run(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      model: { type: 'string' },
      tokenizer: { type: 'string' },
      out: { type: 'string', default: 'runs/chat-f16' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const root = join(import.meta.dirname, '..', '..', '..');
  const { modelDir, tokenizerPath } = await findCheckpoint({
    cwd,
    root,
    model: values.model,
    tokenizer: values.tokenizer,
  });
  await init({ backend: 'cpu', quiet: true });
  const out = resolve(cwd, values.out as string);
  await exportFloat16(modelDir, tokenizerPath, out);
  console.log(`wrote ${out} (float16) from ${modelDir}\nrun it: node examples/chat/run.mjs ${out}`);
  return 0;
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
