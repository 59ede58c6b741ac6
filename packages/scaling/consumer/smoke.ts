// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { computeOptimal, countGPT, EPOCH_2024 } from '@kiln/scaling';

const { totalParams } = countGPT({
  family: 'llama',
  vocabSize: 32000,
  contextLength: 4096,
  nLayers: 80,
  nHeads: 64,
  nKvHeads: 8,
  dModel: 8192,
  dFF: 28672,
});
if (totalParams !== 68_976_648_192) throw new Error(`Llama 2 70B counted as ${totalParams}`);
const optimal = computeOptimal(1e24, EPOCH_2024);
console.log(
  `@kiln/scaling: Llama 2 70B has ${totalParams} parameters; 1e24 FLOPs → N ≈ ${(optimal.N / 1e9).toFixed(0)}B`,
);
