// Prints vitest's JSON report as the one line CI reads: "N passed, N failed, N skipped".
// Further arguments `name=passed|failed|skipped` are checks outside vitest (the release dry run,
// the browser test), counted as one test each and listed above the line.
import { existsSync, readFileSync } from 'node:fs';

const [file, ...checks] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const check of checks) {
  const [name, result] = check.split('=');
  console.log(`${name}: ${result}`);
  if (result === 'passed') passed++;
  else if (result === 'skipped') skipped++;
  else failed++;
}
if (!existsSync(file)) {
  console.error(`no test report at ${file}: the test run did not complete`);
  console.log(`${passed} passed, ${failed + 1} failed, ${skipped} skipped`);
  process.exit(0);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests + passed} passed, ${r.numFailedTests + failed} failed, ${skipped} skipped`);
