// Command-line flags.
import { parseArgs } from 'node:util';

export interface Args {
  config?: string;
  resume: boolean;
  backend: 'cpu' | 'webgpu' | 'auto';
  steps?: number;
  out: string;
  initFrom?: string;
  /** Overrides the config's train.precision. */
  precision?: 'float32' | 'mixed-float16';
}

export const USAGE = `Pretrain a small GPT on Moby Dick.

usage: pnpm --filter @kiln/example-pretrain start -- [flags]

  --config <file>     JSON with any of the sections data, model, train, sample (merged over the defaults)
  --resume            continue from the latest checkpoint in <out>/checkpoints
  --backend <name>    cpu, webgpu or auto (default auto: WebGPU when an adapter exists)
  --steps <n>         train for n steps (the schedule decays over them)
  --out <dir>         output directory (default runs/pretrain)
  --init-from <dir>   start from the weights of a Hugging Face model directory (e.g. one
                      written by scripts/reference/export_init.py) instead of a random init
  --precision <p>     float32 (default) or mixed-float16: float16 weights and activations in the
                      forward and backward, float32 master weights and AdamW moments, dynamic loss
                      scaling (needs float16 storage: WebGPU's shader-f16, or the CPU)
  --help              this text`;

/** Parses `argv` (without node and the script); throws with the usage text on a bad flag. */
export function parseFlags(argv: string[]): Args | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'), // pnpm passes a lone `--` through
      options: {
        config: { type: 'string' },
        resume: { type: 'boolean', default: false },
        backend: { type: 'string', default: 'auto' },
        steps: { type: 'string' },
        out: { type: 'string', default: 'runs/pretrain' },
        'init-from': { type: 'string' },
        precision: { type: 'string' },
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
  const precision = values.precision as string | undefined;
  if (precision !== undefined && precision !== 'float32' && precision !== 'mixed-float16') {
    throw new Error(`--precision must be float32 or mixed-float16, got '${precision}'`);
  }
  return {
    ...(precision === undefined ? {} : { precision }),
    config: values.config as string | undefined,
    resume: values.resume as boolean,
    backend,
    steps,
    out: values.out as string,
    initFrom: values['init-from'] as string | undefined,
  };
}
