// Entry point: `pnpm --filter @kiln/example-chat start -- [flags]` (see args.ts).
import { join } from 'node:path';
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2), {
  input: process.stdin,
  output: process.stdout,
  errors: process.stderr,
  // pnpm runs scripts inside the package; paths on the command line are meant from where pnpm was started.
  cwd: process.env.INIT_CWD ?? process.cwd(),
  root: join(import.meta.dirname, '..', '..', '..'),
  terminal: process.stdin.isTTY === true,
});
