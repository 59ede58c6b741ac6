// `cost`: what a training run costs, and the compute-optimal model for the same budget.
import {
  computeOptimal,
  estimateTraining,
  getAccelerator,
  impliedMfu,
  LAWS,
  type TrainingEstimate,
} from '@kiln/scaling';
import { thisMachine } from '@kiln/scaling/node';
import { init } from '@kiln/tensor';
import type { CostArgs } from './args.js';
import { dollars, gb, sci, si } from './format.js';

// Touvron et al. 2023 (Llama 2), table 2: A100-80GB GPU-hours for 2T tokens.
const LLAMA2 = [
  { name: '7B', params: 6_738_415_616, hours: 184_320 },
  { name: '13B', params: 13_015_864_320, hours: 368_640 },
  { name: '70B', params: 68_976_648_192, hours: 1_720_320 },
];

/** The lines `cost` prints for an estimate (pure, so tests can check them). */
export function costReport(e: TrainingEstimate): string[] {
  const a = e.accelerator;
  const lines = [
    `${si(e.params)} parameters, ${si(e.tokens)} tokens on ${e.count} × ${a.name} at MFU ${e.mfu} (${e.format} peak ${si(e.peakFlopsPerDevice)}FLOP/s)`,
    `  training FLOPs        ${sci(e.flops)} (${si(e.flopsPerToken)} per token)`,
    `  accelerator-hours     ${si(e.acceleratorHours)}`,
    `  wall clock            ${e.days >= 1 ? `${e.days.toFixed(1)} days` : `${(e.seconds / 3600).toFixed(2)} hours`} on ${e.count}`,
    `  cost                  ${e.cost === null ? 'no price (pass --price)' : `${dollars(e.cost)} at $${e.pricePerHour}/hour`}`,
    `  memory per device     ${gb(e.memory.total)}: weights ${gb(e.memory.weights)}, gradients ${gb(e.memory.gradients)}, optimizer ${gb(e.memory.optimizer)} (${e.memory.bytesPerParameter} bytes/parameter${e.count > 1 ? `, sharded over ${e.count}` : ''}; activations need the model shape)`,
    `                        ${e.fits === null ? 'device memory unknown' : e.fits ? `fits in ${gb(a.memoryBytes)}` : `does NOT fit in ${gb(a.memoryBytes)}`}`,
    `  parameter file        ${gb(e.parameterFileBytes)} at 2 bytes/parameter`,
    `compute-optimal for the same ${sci(e.flops)} FLOPs (C = 6·N·D):`,
  ];
  for (const law of LAWS) {
    const o = computeOptimal(e.flops, law);
    lines.push(
      `  ${law.name.padEnd(40)} N ${si(o.N).padStart(6)}  D ${si(o.D).padStart(6)}  ${o.tokensPerParameter.toFixed(1).padStart(5)} tokens/param  loss ${o.loss.toFixed(3)}`,
    );
  }
  return lines;
}

export async function cost(args: CostArgs, log: (line?: string) => void): Promise<void> {
  let accelerator = args.accelerator === 'this-machine' ? undefined : getAccelerator(args.accelerator);
  if (!accelerator) {
    const info = await init();
    log(`measuring fp32 matmuls on ${info.name} (${info.device})…`);
    accelerator = await thisMachine();
  }
  const e = estimateTraining({
    params: args.params,
    tokens: args.tokens,
    accelerator,
    count: args.count,
    mfu: args.mfu,
    pricePerHour: args.price,
  });
  for (const line of costReport(e)) log(line);
  if (accelerator.id === 'a100-80gb') {
    log('for reference, Llama 2 (2T tokens, A100-80GB) took:');
    for (const { name, params, hours } of LLAMA2) {
      const mfu = impliedMfu({ params, tokens: 2e12, acceleratorHours: hours, accelerator });
      log(
        `  ${name.padEnd(4)} ${hours.toLocaleString('en-US').padStart(9)} GPU-hours: MFU ${mfu.toFixed(3)} with 6·N·D FLOPs`,
      );
    }
  }
}
