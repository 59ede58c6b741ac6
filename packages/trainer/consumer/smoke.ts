// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { backward, Parameter } from '@kiln/autograd';
import { init, tensor } from '@kiln/tensor';
import { AdamW, cosineSchedule } from '@kiln/trainer';

await init({ backend: 'cpu' });
const w = new Parameter(tensor([3, -2]));
const optimizer = new AdamW([w], { lr: 0.1, weightDecay: 0 });
const schedule = cosineSchedule({ maxLr: 0.1, minLr: 0.01, warmupSteps: 1, totalSteps: 50 });
for (let step = 0; step < 50; step++) {
  optimizer.lr = schedule(step);
  backward(w.mul(w).sum());
  optimizer.step();
  optimizer.zeroGrad();
}
const left = await w.mul(w).sum().item();
if (!(left < 1)) throw new Error(`AdamW did not shrink |w|² (still ${left})`);
console.log(`@kiln/trainer: 50 AdamW steps took |w|² from 13 to ${left.toFixed(4)}`);
