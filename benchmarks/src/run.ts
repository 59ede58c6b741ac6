// Runs every benchmark suite in src/suites/, one after the other (they measure time, so never in
// parallel). `pnpm bench` runs all of them; `pnpm bench tokenizer` runs the suites whose file
// name contains "tokenizer". A suite is a module whose default export is `{ name, run() }`.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machine } from './harness.js';

/** What each file in src/suites/ exports by default. */
export interface Suite {
  /** Short name, used for the results file. */
  name: string;
  /** Runs the measurements and prints/records the results. */
  run(): Promise<void>;
}

const filters = process.argv.slice(2);
const dir = join(import.meta.dirname, 'suites');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`No benchmark suite matches ${filters.join(', ')}.`);
  process.exitCode = 1;
}
const host = machine();
console.log(
  `${host.cpu}, ${host.cores} cores, load average ${host.loadAverage1m.toFixed(1)}, Node ${process.version}`,
);
for (const file of files) {
  const suite = (await import(pathToFileURL(join(dir, file)).href)).default as Suite;
  console.log(`\n=== ${suite.name} (${file}) ===\n`);
  const start = performance.now();
  await suite.run();
  console.log(`=== ${suite.name} done in ${((performance.now() - start) / 1000).toFixed(1)} s ===`);
}
