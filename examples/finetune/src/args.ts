// Command-line flags.
import { parseArgs } from 'node:util';

/** The parsed flags. */
export interface Args {
  config?: string;
  backend: 'cpu' | 'webgpu' | 'auto';
  steps?: number;
  base: string;
  pretrain: boolean;
  out: string;
  fresh: boolean;
}

export const USAGE = `Fine-tune the pretrained Moby Dick GPT into an assistant: full fine-tuning and LoRA, side by side.

usage: pnpm --filter @kiln/example-finetune start -- [flags]

  --base <dir>        the base model: a directory with model/ (Hugging Face format) and
                      tokenizer.json, as examples/pretrain writes (default runs/pretrain)
  --pretrain          make the base first with examples/pretrain when it is missing
  --config <file>     JSON with any of the sections data, full, lora, eval (merged over the defaults)
  --backend <name>    cpu, webgpu or auto (default auto: WebGPU when an adapter exists)
  --steps <n>         train each run for n steps (the schedules decay over them)
  --out <dir>         output directory (default runs/finetune)
  --fresh             redo every stage (default: a finished stage is reused, an interrupted
                      one resumes from its last checkpoint)
  --help              this text`;

/** Parses `argv` (without node and the script); throws with the usage text on a bad flag. */
export function parseFlags(argv: string[]): Args | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'), // pnpm passes a lone `--` through
      options: {
        config: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        steps: { type: 'string' },
        base: { type: 'string', default: 'runs/pretrain' },
        pretrain: { type: 'boolean', default: false },
        out: { type: 'string', default: 'runs/finetune' },
        fresh: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return 'help';
  const backend = values.backend as string;
  if (backend !== 'cpu' && backend !== 'webgpu' && backend !== 'auto') {
    throw new Error(`--backend must be cpu, webgpu or auto, got '${backend}'`);
  }
  let steps: number | undefined;
  if (values.steps !== undefined) {
    steps = Number(values.steps);
    if (!Number.isInteger(steps) || steps < 1)
      throw new Error(`--steps must be a positive integer, got '${values.steps}'`);
  }
  return {
    config: values.config as string | undefined,
    backend,
    steps,
    base: values.base as string,
    pretrain: values.pretrain as boolean,
    out: values.out as string,
    fresh: values.fresh as boolean,
  };
}
