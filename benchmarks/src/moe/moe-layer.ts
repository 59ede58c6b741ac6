// Child process: times forward+backward of an MoE layer and of its parts against a dense SwiGLU
// with the same active parameters, on one backend, and prints a MoEBenchResult as its last line.
//   node --conditions=@kiln/source --import tsx moe-layer.ts <webgpu|cpu> <warmup> <steps>
// Every workload: forward, backward of sum(out · w) (w fixed random), then one element of every
// gradient read back (so the device has finished). The parts:
//   route     router logits → softmax → top-k → gates, and the pair plan (ranks, counts)
//   permute   the sorted layout (each pair's row, the experts' ends) and dispatchRows: tokens
//             copied to their expert-sorted rows (no experts)
//   experts   the grouped product alone (groupedMatmul ×3), on already sorted rows
//   combine   combineRows: the gather back from sorted rows fused with the gate-weighted sum
//   blocks    the grouped product as it was before groupedMatmul (for comparison in the same
//             run): rows padded per expert to blocks of 16, each block's weights gathered with
//             indexSelect, one batched matmul per projection
import { backward, noGrad, Parameter } from '@kiln/autograd';
import { combineSlots, droplessLayout, MoE, planAssignments } from '@kiln/moe';
import {
  arange,
  ceil,
  dispatchRows,
  indexSelect,
  init,
  keep,
  manualSeed,
  randn,
  scope,
  type Tensor,
} from '@kiln/tensor';
import { SwiGLU } from '@kiln/transformer';
import { MOE_BENCH, type MoEBenchResult } from './config.js';

const [backendArg, warmupArg, stepsArg] = process.argv.slice(2);
const info = await init({ backend: backendArg === 'cpu' ? 'cpu' : 'webgpu' });
const { tokens: N, dModel: d, experts: E, topK: k, expertDFF: f } = MOE_BENCH;
manualSeed(0);
const x = new Parameter(randn([N, d]));
const dense = new SwiGLU(d, k * f, { bias: false });
const dropless = new MoE(d, { experts: E, topK: k, expertDFF: f });
const capacity = new MoE(d, {
  experts: E,
  topK: k,
  expertDFF: f,
  dispatch: 'capacity',
  capacityFactor: 1.25,
});
// a router trained a little routes unevenly; a random one is close enough for timing
const routing = noGrad(() => dropless.router.route(x));
const plan = planAssignments(routing.experts, E);
const layout = droplessLayout(plan);
const sortedInput = new Parameter(randn([N * k, d]));
const pairsInput = new Parameter(randn([N * k, d]));
// the block-padded layout of the previous dropless dispatch: each block's expert
const B = 16;
const blocks = Math.floor((N * k + E * (B - 1)) / B);
const owner = noGrad(() => {
  const ends = ceil(plan.counts.div(B)).mul(B).cumsum(0);
  const blockStart = arange(0, blocks * B, B, { dtype: 'float32' });
  const below = ends.unsqueeze(0).le(blockStart.unsqueeze(1)).cast('float32').sum(1);
  return below.clamp(0, E - 1).cast('int32');
});
const blockInput = new Parameter(randn([blocks, B, d]));
function blockProduct(): Tensor {
  const ex = dropless.experts;
  const w = (p: Parameter, out: number, inner: number) =>
    indexSelect(p.reshape([E, out, inner]), 0, owner).permute([0, 2, 1]);
  const h = blockInput
    .matmul(w(ex.w1, f, d))
    .silu()
    .mul(blockInput.matmul(w(ex.w3!, f, d)));
  return h.matmul(w(ex.w2, d, f));
}
const gates = new Parameter(routing.gates.alias());

const leaves = () => [
  x,
  sortedInput,
  pairsInput,
  gates,
  blockInput,
  ...dense.parameters(),
  ...dropless.parameters(),
  ...capacity.parameters(),
];
const weights = new Map<string, Tensor>();

async function fwdBwd(f: () => Tensor): Promise<void> {
  await scope(async () => {
    const out = f();
    const key = out.shape.join();
    if (!weights.has(key)) weights.set(key, keep(randn(out.shape)));
    backward(out.mul(weights.get(key)!).sum());
    // one element of every gradient the backward wrote, read back: the device has finished it
    const grads = leaves().flatMap((p) => (p.grad ? [p.grad.reshape([p.grad.size]).slice(0, 0, 1)] : []));
    await grads.reduce((a, b) => a.add(b)).item();
    for (const p of leaves()) {
      p.grad?.dispose();
      p.grad = null;
    }
  });
}

const workloads: Record<string, () => Tensor> = {
  dense: () => dense.forward(x),
  dropless: () => dropless.forward(x),
  capacity: () => capacity.forward(x),
  route: () => {
    const r = dropless.router.route(x);
    planAssignments(r.experts, E);
    return r.gates.sum(1, true).mul(x);
  },
  permute: () => dispatchRows(x, droplessLayout(plan).slots, N * k),
  experts: () => dropless.experts.forwardGrouped(sortedInput, layout.ends),
  combine: () => combineSlots(pairsInput, layout.slots, gates),
  blocks: blockProduct,
};

const warmup = Math.max(1, Number(warmupArg));
const steps = Number(stepsArg);
const ms: Record<string, number[]> = {};
for (const fn of Object.values(workloads)) for (let i = 0; i < warmup; i++) await fwdBwd(fn);
// round robin: on a shared machine, load that comes and goes then hits every workload alike
for (let i = 0; i < steps; i++) {
  for (const [name, fn] of Object.entries(workloads)) {
    const start = performance.now();
    await fwdBwd(fn);
    (ms[name] ??= []).push(performance.now() - start);
  }
}
const result: MoEBenchResult = { device: `${info.name}: ${info.device}`, ms };
console.log(JSON.stringify(result));
process.exit(0);
