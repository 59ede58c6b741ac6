// Command-line flags of the three commands (cost, fit, sweep).
import { parseArgs } from 'node:util';
import { formatCompute } from '@kiln/scaling';

export type Backend = 'cpu' | 'webgpu' | 'auto';

export interface CostArgs {
  command: 'cost';
  params: number;
  tokens: number;
  accelerator: string;
  count: number;
  mfu: number;
  price?: number;
}

export interface FitArgs {
  command: 'fit';
  out: string;
  bootstrap: number;
  quick: boolean;
}

export interface SweepArgs {
  command: 'sweep';
  out: string;
  backend: Backend;
  budgets: number[];
  verify: number;
  batchSize: number;
  bootstrap: number;
}

export type Args = CostArgs | FitArgs | SweepArgs | 'help';

/** The default sweep: sized to finish in about 15 minutes on the two-core machine (README). */
export const SWEEP_DEFAULTS = { budgets: [1e9, 3e9, 1e10], verify: 3e10, batchSize: 2, bootstrap: 200 };

export const USAGE = `Scaling laws: count, cost, fit and predict.

usage: pnpm --filter @kiln/example-scaling start <command> [flags]

  cost    what a training run costs
    --params <N>          parameters, e.g. 70e9 (required)
    --tokens <D>          training tokens, e.g. 2e12 (required)
    --accelerator <id>    a100-40gb, a100-80gb, h100-sxm, h100-pcie, h200, b200, mi300x, tpu-v5e,
                          or this-machine (measured now with @kiln/tensor) (default a100-80gb)
    --count <n>           accelerators (default 1)
    --mfu <fraction>      model FLOPs utilisation (default 0.4)
    --price <usd>         per accelerator-hour (default: the table's typical price)

  fit     the Epoch AI refit of Chinchilla from the 245 published points, with plots
    --out <dir>           output directory (default runs/scaling-fit)
    --bootstrap <n>       bootstrap resamples for the intervals (default 200)
    --quick               a 243-start grid instead of the papers' 4,500 starts

  sweep   an isoFLOP sweep on Moby Dick: fit, predict a bigger run, train it, compare
    --budgets <C,C,…>     compute budgets in FLOPs (default ${SWEEP_DEFAULTS.budgets.map(formatCompute).join(',')})
    --verify <C>          budget of the predicted-then-trained run (default ${formatCompute(SWEEP_DEFAULTS.verify)})
    --batch-size <n>      windows of 64 tokens per step (default ${SWEEP_DEFAULTS.batchSize})
    --bootstrap <n>       bootstrap resamples (default ${SWEEP_DEFAULTS.bootstrap})
    --backend <name>      cpu, webgpu or auto (default auto)
    --out <dir>           output directory (default runs/scaling); finished runs there are reused

  --help                  this text`;

function number(
  flag: string,
  value: string | undefined,
  { integer = false, max = Number.POSITIVE_INFINITY } = {},
): number {
  const v = Number(value);
  if (
    value === undefined ||
    value.trim() === '' ||
    !Number.isFinite(v) ||
    v <= 0 ||
    v > max ||
    (integer && !Number.isInteger(v))
  ) {
    throw new Error(
      `--${flag} must be a positive ${integer ? 'integer' : 'number'}${max < Number.POSITIVE_INFINITY ? ` at most ${max}` : ''} (e.g. 70e9), got '${value}'`,
    );
  }
  return v;
}

type FlagOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse(argv: string[], options: FlagOptions) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${USAGE}`);
  }
}

/** Parses `argv` (without node and the script); throws with the usage text on a bad command or flag. */
export function parseFlags(argv: string[]): Args {
  const args = argv.filter((a) => a !== '--'); // pnpm passes a lone `--` through
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === 'help' || rest.includes('--help'))
    return 'help';
  if (command === 'cost') {
    const v = parse(rest, {
      params: { type: 'string' },
      tokens: { type: 'string' },
      accelerator: { type: 'string', default: 'a100-80gb' },
      count: { type: 'string', default: '1' },
      mfu: { type: 'string', default: '0.4' },
      price: { type: 'string' },
    });
    if (v.params === undefined || v.tokens === undefined) {
      throw new Error(`cost needs --params and --tokens, e.g. cost --params 70e9 --tokens 2e12\n\n${USAGE}`);
    }
    return {
      command,
      params: number('params', v.params as string),
      tokens: number('tokens', v.tokens as string),
      accelerator: v.accelerator as string,
      count: number('count', v.count as string, { integer: true }),
      mfu: number('mfu', v.mfu as string, { max: 1 }),
      price: v.price === undefined ? undefined : number('price', v.price as string),
    };
  }
  if (command === 'fit') {
    const v = parse(rest, {
      out: { type: 'string', default: 'runs/scaling-fit' },
      bootstrap: { type: 'string', default: '200' },
      quick: { type: 'boolean', default: false },
    });
    return {
      command,
      out: v.out as string,
      bootstrap: number('bootstrap', v.bootstrap as string, { integer: true }),
      quick: v.quick as boolean,
    };
  }
  if (command === 'sweep') {
    const v = parse(rest, {
      budgets: { type: 'string' },
      verify: { type: 'string' },
      'batch-size': { type: 'string', default: String(SWEEP_DEFAULTS.batchSize) },
      bootstrap: { type: 'string', default: String(SWEEP_DEFAULTS.bootstrap) },
      backend: { type: 'string', default: 'auto' },
      out: { type: 'string', default: 'runs/scaling' },
    });
    const backend = v.backend as string;
    if (backend !== 'cpu' && backend !== 'webgpu' && backend !== 'auto') {
      throw new Error(`--backend must be cpu, webgpu or auto, got '${backend}'`);
    }
    const budgets =
      v.budgets === undefined
        ? SWEEP_DEFAULTS.budgets
        : (v.budgets as string).split(',').map((b) => number('budgets', b));
    const verify = v.verify === undefined ? SWEEP_DEFAULTS.verify : number('verify', v.verify as string);
    if (!(verify > Math.max(...budgets))) {
      throw new Error(
        `--verify (${verify}) must be above every budget (largest ${Math.max(...budgets)}): it checks a prediction beyond the sweep`,
      );
    }
    return {
      command,
      out: v.out as string,
      backend,
      budgets,
      verify,
      batchSize: number('batch-size', v['batch-size'] as string, { integer: true }),
      bootstrap: number('bootstrap', v.bootstrap as string, { integer: true }),
    };
  }
  throw new Error(`unknown command '${command}'; the commands are cost, fit and sweep\n\n${USAGE}`);
}
