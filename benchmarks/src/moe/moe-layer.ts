// Child process: times forward+backward of an MoE layer and of its parts against a dense SwiGLU
// with the same active parameters, on one backend, and prints a MoEBenchResult as its last line.
//   node --conditions=@kiln/source --import tsx moe-layer.ts <webgpu|cpu> <warmup> <steps>
// Every workload: forward, backward of sum(out · w) (w fixed random), then one element of every
// gradient read back (so the device has finished). The parts:
//   route     router logits → softmax → top-k → gates, and the pair plan (ranks, counts)
//   permute   the sorted layout (block offsets, each pair's row), the scatter of the pairs into
//             block-padded sorted rows and the gather back (no experts)
//   experts   the grouped product alone, on already sorted rows
//   combine   gate-weighted sum over each token's k pairs
import { backward, noGrad, Parameter } from '@kiln/autograd';
import { combinePairs, droplessLayout, MoE, pairRows, planAssignments } from '@kiln/moe';
import { init, keep, manualSeed, randn, scatterAdd, scope, type Tensor, zeros } from '@kiln/tensor';
import { SwiGLU } from '@kiln/transformer';
import { MOE_BENCH, type MoEBenchResult } from './config.js';

const [backendArg, warmupArg, stepsArg] = process.argv.slice(2);
const info = await init({ backend: backendArg === 'cpu' ? 'cpu' : 'webgpu' });
const { tokens: N, dModel: d, experts: E, topK: k, expertDFF: f, blockSize } = MOE_BENCH;
manualSeed(0);
const x = new Parameter(randn([N, d]));
const dense = new SwiGLU(d, k * f, { bias: false });
const dropless = new MoE(d, { experts: E, topK: k, expertDFF: f, blockSize });
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
const layout = droplessLayout(plan, blockSize);
const sortedInput = new Parameter(randn([layout.blocks * blockSize, d]));
const pairsInput = new Parameter(randn([N * k, d]));
const gates = new Parameter(routing.gates.alias());

const leaves = () => [
  x,
  sortedInput,
  pairsInput,
  gates,
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
  permute: () => {
    const { dest, blocks } = droplessLayout(plan, blockSize);
    const sorted = scatterAdd(
      zeros([blocks * blockSize, d]),
      0,
      dest.unsqueeze(1).expand([N * k, d]),
      pairRows(x, k),
    );
    return sorted.indexSelect(0, dest).reshape([k, N, d]).sum(0);
  },
  experts: () =>
    dropless.experts.forwardBlocks(sortedInput.reshape([layout.blocks, blockSize, d]), layout.owner),
  combine: () => combinePairs(pairsInput, gates),
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
