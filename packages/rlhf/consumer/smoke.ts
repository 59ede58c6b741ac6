// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { dpoLoss, grpoAdvantages } from '@kiln/rlhf';
import { init, tensor } from '@kiln/tensor';

await init({ backend: 'cpu' });
// DPO (sigmoid): −log σ(β·((πc − refc) − (πr − refr))), here β·margin = 0.1·(1 − (−1)) = 0.2
const { loss } = dpoLoss(tensor([-1]), tensor([-3]), tensor([-2]), tensor([-2]), { beta: 0.1 });
const value = (await loss.toArray()) as number;
const expected = Math.log1p(Math.exp(-0.2));
if (Math.abs(value - expected) > 1e-6) throw new Error(`dpoLoss gave ${value}, expected ${expected}`);
// GRPO: rewards normalised within each group of 2
const advantages = (await grpoAdvantages(tensor([1, 0, 0.5, 0.5]), 2).toArray()) as number[];
if (!(advantages[0] > 0 && advantages[1] < 0 && advantages[2] === 0)) {
  throw new Error(`grpoAdvantages gave ${advantages.join(', ')}`);
}
console.log(
  `@kiln/rlhf: DPO loss ${value.toFixed(4)}, GRPO advantages ${advantages.map((a) => a.toFixed(3)).join(', ')}`,
);
