// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { grad, Parameter } from '@kiln/autograd';
import { init, type Tensor, tensor } from '@kiln/tensor';

await init({ backend: 'cpu' });
const dSquare = grad((x: Tensor) => x.mul(x).sum());
const g = await dSquare(tensor([1, 2, 3])).toArray();
if (JSON.stringify(g) !== '[2,4,6]') throw new Error(`d/dx sum(x²) gave ${JSON.stringify(g)}`);
const p = new Parameter(tensor([1, 2]));
console.log(`@kiln/autograd: grad of sum(x²) = ${JSON.stringify(g)}; a Parameter of shape [${p.shape}]`);
