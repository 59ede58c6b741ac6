// Kiln's matmul variants against the reference kernel (reference-matmul.ts), interleaved round by
// round in one process so that the machine's load hits all alike, for square products and the
// training step's transposed-operand forms (A·Bᵀ as in x @ Wᵀ, Aᵀ·B as in Xᵀ @ dY):
//   node --conditions=@kiln/source --import tsx src/tensor/matmul-ratio.ts [sizes] [variants]
//   e.g. 256,1024 sgband12x2,sgrowv16   (MATMUL_RATIO_ROUNDS: rounds, default 5)
// Prints, per size and form, the median GFLOP/s of each and its ratio to the reference.
import { loadavg } from 'node:os';
import { init, manualSeed, randn, type Tensor } from '@kiln/tensor';
import { summarize } from '../harness.js';
import { readOne } from './kiln-ops.js';
import { REFERENCE_MATMUL, referenceMatmul } from './reference-matmul.js';

process.env.KILN_MATMUL_AUTOTUNE = '0';
const sizes = (process.argv[2] ?? '256,1024').split(',').map(Number);
const variants = (process.argv[3] ?? 'sgband12x2,sgrowv16').split(',');
const forms = (process.env.MATMUL_RATIO_FORMS ?? 'nn,nt,tn').split(',');
const rounds = Number(process.env.MATMUL_RATIO_ROUNDS ?? 5);
await init({ backend: 'webgpu' });
manualSeed(0);
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);

const repsFor = (n: number) =>
  Math.max(1, Math.round(2 ** Number(process.env.MATMUL_RATIO_LOG2_FLOPS ?? 29) / (2 * n ** 3)));

for (const n of sizes) {
  const reps = repsFor(n);
  const a = randn([n, n]);
  const b = randn([n, n]);
  const hostA = (await a.data()) as Float32Array;
  const hostB = (await b.data()) as Float32Array;
  for (const form of forms) {
    // A·Bᵀ: B's storage is read transposed; Aᵀ·B: A's. The reference always runs its own form
    // (nn, or nt with B given as Bᵀ), the nearest it has.
    const lhs = form === 'tn' ? a.T : a;
    const rhs = form === 'nt' ? b.T : b;
    const ref = await referenceMatmul(n, reps, hostA, hostB, form === 'nt');
    const runs: { name: string; run: () => Promise<void> }[] = [];
    if (ref) runs.push({ name: REFERENCE_MATMUL, run: () => ref.run() });
    for (const variant of variants) {
      runs.push({
        name: variant,
        run: async () => {
          process.env.KILN_MATMUL_VARIANT = variant;
          let last: Tensor | undefined;
          for (let r = 0; r < reps; r++) {
            last?.dispose();
            last = lhs.matmul(rhs);
          }
          if (last) await readOne(last);
          last?.dispose();
        },
      });
    }
    // MATMUL_RATIO_REF_LAST=1: the reference runs after Kiln's variants in each round (order check)
    if (ref && process.env.MATMUL_RATIO_REF_LAST === '1') runs.push(runs.shift()!);
    for (const r of runs) await r.run(); // compile + warm
    const ms = runs.map((): number[] => []);
    // process CPU per product (lavapipe's workers are threads of this process): what load hides least
    const cpu = runs.map((): number[] => []);
    const mainCpu = runs.map((): number[] => []);
    for (let round = 0; round < rounds; round++)
      for (const [i, r] of runs.entries()) {
        const used = process.cpuUsage();
        const mainUsed = (process as any).threadCpuUsage();
        const start = performance.now();
        await r.run();
        ms[i].push((performance.now() - start) / reps);
        const { user, system } = process.cpuUsage(used);
        cpu[i].push((user + system) / 1000 / reps);
        const mu = (process as any).threadCpuUsage(mainUsed);
        mainCpu[i].push((mu.user + mu.system) / 1000 / reps);
      }
    const gflops = ms.map((m) => summarize(m.map((t) => (2 * n ** 3) / (t * 1e6))));
    const refIndex = runs.findIndex((r) => r.name === REFERENCE_MATMUL);
    const refMedian = refIndex >= 0 ? gflops[refIndex].median : undefined;
    for (const [i, r] of runs.entries()) {
      const g = gflops[i];
      const ratio = refMedian ? ` ${(g.median / refMedian).toFixed(2)}× ref` : '';
      console.log(
        `n=${n} ${form} ${r.name.padEnd(28).slice(0, 40)} ${g.median.toFixed(2)} GFLOP/s (${g.min.toFixed(2)}–${g.max.toFixed(2)})${ratio}, CPU ${summarize(cpu[i]).median.toFixed(1)} ms/product (main thread ${summarize(mainCpu[i]).median.toFixed(1)})`,
      );
    }
    ref?.dispose();
  }
  a.dispose();
  b.dispose();
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}
process.exit(0);
