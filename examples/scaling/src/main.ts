// Scaling laws end to end, three commands:
//
//   pnpm --filter @kiln/example-scaling start cost --params 70e9 --tokens 2e12 --accelerator a100-80gb --count 6000
//   pnpm --filter @kiln/example-scaling start fit
//   pnpm --filter @kiln/example-scaling start sweep

import { parseFlags, USAGE } from './args.js';
import { cost } from './cost.js';
import { fit } from './fit.js';
import { sweep } from './sweep.js';

const log = (line = '') => console.log(line);

async function main(): Promise<void> {
  const args = parseFlags(process.argv.slice(2));
  // pnpm runs scripts inside the package; paths on the command line are meant from where pnpm was started.
  const base = process.env.INIT_CWD ?? process.cwd();
  if (args === 'help') log(USAGE);
  else if (args.command === 'cost') await cost(args, log);
  else if (args.command === 'fit') await fit(args, base, log);
  else await sweep(args, base, log);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\n${process.env.KILN_DEBUG && error instanceof Error ? error.stack : message}`);
  process.exit(1);
});
