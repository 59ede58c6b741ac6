// `fit`: the Epoch AI refit of Chinchilla's law from the 245 points of Hoffmann et al.'s Figure 4.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CHINCHILLA_2022,
  type ChinchillaLaw,
  computeOptimal,
  EPOCH_2024,
  fitScalingLaw,
  readChinchillaPoints,
  renderComputeSizePlaneSvg,
} from '@kiln/scaling/node';
import { writeFileAtomic } from '@kiln/tensor/node';
import type { FitArgs } from './args.js';

const KEYS = ['E', 'A', 'B', 'alpha', 'beta'] as const;
// The paper's bootstrap standard errors (Besiroglu et al. 2024, table 1).
const PAPER_SE = { E: 0.03, A: 124.58, B: 1293.23, alpha: 0.02, beta: 0.02 };
// What the replication's published notebook prints.
const NOTEBOOK = { E: 1.817, A: 477.8, B: 2143.9, alpha: 0.347, beta: 0.367 };
const QUICK_GRID = { a: [0, 5, 10], b: [0, 5, 10], e: [-1, 0, 1], alpha: [0, 0.5, 1], beta: [0, 0.5, 1] };

export async function fit(args: FitArgs, base: string, log: (line?: string) => void): Promise<void> {
  const outDir = join(base, args.out);
  await mkdir(outDir, { recursive: true });
  const points = await readChinchillaPoints();
  log(
    `${points.length} runs from Hoffmann et al. 2022, Figure 4 (Epoch AI's extraction); dropping the 5 highest losses as the replication does`,
  );
  const start = performance.now();
  const result = fitScalingLaw(points, {
    excludeHighestLoss: 5,
    bootstrap: args.bootstrap,
    grid: args.quick ? QUICK_GRID : undefined,
  });
  log(
    `fitted ${result.pointsUsed} runs from ${result.starts} starts (${result.converged} converged) and ${args.bootstrap} bootstrap refits in ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
  log();
  log(
    '            this fit   (95% bootstrap)        SE      | Epoch paper      SE | notebook | Chinchilla paper',
  );
  for (const k of KEYS) {
    const [lo, hi] = result.intervals?.[k] ?? [Number.NaN, Number.NaN];
    const p = (v: number) => v.toPrecision(5).padStart(9);
    log(
      `  ${k.padEnd(6)} ${p(result.law[k])}   (${lo.toPrecision(4)}–${hi.toPrecision(4)})`.padEnd(42) +
        `${(result.standardErrors?.[k] ?? Number.NaN).toPrecision(3).padStart(8)}  | ${p(EPOCH_2024[k])} ${String(PAPER_SE[k]).padStart(8)} | ${p(NOTEBOOK[k])} | ${p(CHINCHILLA_2022[k])}`,
    );
  }
  log();
  const laws: { name: string; law: ChinchillaLaw }[] = [
    { name: 'this fit', law: result.law },
    { name: 'Epoch paper', law: EPOCH_2024 },
    { name: 'Chinchilla paper', law: CHINCHILLA_2022 },
  ];
  log('compute-optimal at Chinchilla’s budget (5.76e23 FLOPs) and at 1e25:');
  for (const { name, law } of laws) {
    const [a, b] = [computeOptimal(5.76e23, law), computeOptimal(1e25, law)];
    log(
      `  ${name.padEnd(17)} N ${(a.N / 1e9).toFixed(1)}B, ${a.tokensPerParameter.toFixed(1)} tokens/param, loss ${a.loss.toFixed(3)} | 1e25: N ${(b.N / 1e9).toFixed(0)}B, ${b.tokensPerParameter.toFixed(1)} tokens/param`,
    );
  }
  const svg = renderComputeSizePlaneSvg(points, laws, {
    contours: [2.2, 2.5, 3],
    title: 'Chinchilla Figure 4 runs, efficient frontiers and iso-loss contours (this fit)',
  });
  await writeFileAtomic(join(outDir, 'chinchilla-plane.svg'), svg);
  const summary = {
    points: points.length,
    pointsUsed: result.pointsUsed,
    starts: result.starts,
    fit: Object.fromEntries(KEYS.map((k) => [k, result.law[k]])),
    intervals: result.intervals ?? null,
    standardErrors: result.standardErrors ?? null,
    paper: Object.fromEntries(KEYS.map((k) => [k, EPOCH_2024[k]])),
    relativeToPaper: Object.fromEntries(KEYS.map((k) => [k, result.law[k] / EPOCH_2024[k] - 1])),
    objective: result.objective,
  };
  await writeFileAtomic(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(`wrote ${outDir}/chinchilla-plane.svg and summary.json`);
}
