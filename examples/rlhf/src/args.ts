// Command-line flags.
import { parseArgs } from 'node:util';

/** The parsed flags. */
export interface Args {
  config?: string;
  backend: 'cpu' | 'webgpu' | 'auto';
  finetune: string;
  out: string;
  fresh: boolean;
}

export const USAGE = `RLHF on the fine-tuned Moby Dick assistant: GRPO with a programmatic reward; preference pairs
from a judge, a reward model, PPO and DPO; all compared on held-out accuracy.

usage: pnpm --filter @kiln/example-rlhf start -- [flags]

  --finetune <dir>    examples/finetune's output: full/model (the SFT model) and data/*.jsonl
                      (default runs/finetune)
  --config <file>     JSON with any of the sections data, eval, grpo, prefs, rm, ppo, dpo
  --backend <name>    cpu, webgpu or auto (default auto: WebGPU when an adapter exists)
  --out <dir>         output directory (default runs/rlhf)
  --fresh             redo every stage (default: a finished stage of the same config is reused)
  --help              this text`;

/** Parses `argv`; throws with the usage text on a bad flag. */
export function parseFlags(argv: string[]): Args | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'),
      options: {
        config: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        finetune: { type: 'string', default: 'runs/finetune' },
        out: { type: 'string', default: 'runs/rlhf' },
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
  return {
    config: values.config as string | undefined,
    backend,
    finetune: values.finetune as string,
    out: values.out as string,
    fresh: values.fresh as boolean,
  };
}
