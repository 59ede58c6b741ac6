import { loadavg } from 'node:os';
import { destroyBackend, initBackend, matmul, randn } from '@kiln/tensor';
const sizes = (process.env.SIZES ?? '256,512,1024').split(',').map(Number);
const dtype = (process.env.DT ?? 'float32') as 'float32';
const be = await initBackend('webgpu');
type T = { dispose(): void; data(): Promise<unknown> };
for (const n of sizes) {
  const a = randn([n, n], { backend: 'webgpu', dtype } as never);
  const b = randn([n, n], { backend: 'webgpu', dtype } as never);
  const reps = Math.max(1, Math.round(1e9 / (2 * n ** 3)));
  await (matmul(a, b) as unknown as T).data(); // warm-up (+ autotune of this class)
  await (matmul(a, b) as unknown as T).data();
  const times: number[] = [];
  for (let s = 0; s < Number(process.env.SAMPLES ?? 3); s++) {
    const t0 = performance.now();
    let last: T | undefined;
    for (let r = 0; r < reps; r++) {
      last?.dispose();
      last = matmul(a, b) as unknown as T;
    }
    await last?.data();
    times.push((performance.now() - t0) / reps);
  }
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)];
  const g = (t: number) => ((2 * n ** 3) / t / 1e6).toFixed(1);
  console.log(`RESULT ${process.env.KILN_MATMUL_VARIANT ?? 'auto'} ${dtype} n=${n} ${ms.toFixed(1)} ms median ${g(ms)} GFLOP/s (best ${g(times[0])}) load ${loadavg()[0].toFixed(2)}`);
}
if (!process.env.KILN_MATMUL_VARIANT) {
  for (const [k, r] of Object.entries((be as unknown as { matmulRankings(): Record<string, { variant: string; ms: number }[]> }).matmulRankings()))
    console.log('RANK', k.split('|').slice(1).join('|'), r.map((x) => `${x.variant} ${x.ms.toFixed(1)}ms`).join(', '));
}
await destroyBackend('webgpu');
