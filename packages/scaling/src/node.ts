/**
 * @kiln/scaling/node: everything of `@kiln/scaling`, plus what needs Node's file system.
 *
 * - `runSweep`: the sweep lab over `@kiln/trainer` (resumable run directories, fit, plots,
 *   `summary.json`, predict-then-verify).
 * - `readChinchillaPoints`: the 245 Chinchilla Figure 4 runs shipped in `data/` (Epoch AI's
 *   extraction; attribution in `data/README.md`).
 * - `thisMachine`: `measureThisMachine` with the machine's RAM as its memory.
 *
 * ```ts
 * import { fitScalingLaw, readChinchillaPoints } from '@kiln/scaling/node';
 * const fit = fitScalingLaw(await readChinchillaPoints(), { excludeHighestLoss: 5 });
 * ```
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { Accelerator } from './accelerators.js';
import { type ChinchillaPoint, parseChinchillaCsv } from './chinchilla-data.js';
import { type MeasureOptions, measureThisMachine } from './measure.js';

export * from './index.js';
export {
  runSweep,
  type SweepOptions,
  type SweepOutcome,
  type SweepPrediction,
  type SweepRunResult,
  type SweepSchedule,
  type SweepSummary,
} from './sweep.js';

/** The path of the shipped Chinchilla Figure 4 CSV (`data/chinchilla-fig4-points.csv`). */
export const CHINCHILLA_FIG4_CSV: URL = new URL('../data/chinchilla-fig4-points.csv', import.meta.url);

/** Reads the shipped Chinchilla Figure 4 runs (245 points: N, D = C/6N, loss, C). */
export async function readChinchillaPoints(
  path: URL | string = CHINCHILLA_FIG4_CSV,
): Promise<ChinchillaPoint[]> {
  return parseChinchillaCsv(await readFile(path, 'utf8'));
}

/** {@link measureThisMachine} with the machine's RAM (`os.totalmem()`) as its memory. */
export function thisMachine(options: MeasureOptions = {}): Promise<Accelerator> {
  return measureThisMachine({ memoryBytes: totalmem(), ...options });
}
