// A first look at @kiln/tensor: what a newcomer runs first.
//   pnpm demo            (from the repository root)
//   KILN_BACKEND=cpu pnpm demo
import { init, initBackend, manualSeed, randn, scope, tensor } from '@kiln/tensor';

const info = await init({ backend: 'auto' });
console.log(`backend: ${info.name} (${info.device})`);
if (info.features.length > 0) console.log(`features: ${info.features.join(', ')}`);
const maxBinding = info.limits.maxStorageBufferBindingSize;
if (maxBinding) console.log(`max storage binding: ${(maxBinding / 2 ** 20).toFixed(0)} MiB`);

// A few ops: broadcasting, reductions, a fused softmax. `scope` disposes every intermediate.
await scope(async () => {
  const x = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const centered = x.sub(x.mean(1, true));
  console.log('x - mean(x, axis 1):', await centered.toArray());
  console.log(
    'softmax(x):',
    (await x.softmax().toArray()).map((r: number[]) => r.map((v) => v.toFixed(4))),
  );
  console.log('argmax(x, axis 1):', await x.argmax(1).toArray());
});

// matmul on the chosen backend, checked against the CPU reference backend.
const n = 256;
manualSeed(0);
const a = randn([n, n]);
const b = randn([n, n]);
let start = performance.now();
const c = a.matmul(b);
const got = await c.data(); // readback waits for the device
const firstMs = performance.now() - start;
// the first call compiles the kernel (and may autotune); time a warm call too
start = performance.now();
const warm = a.matmul(b);
await warm.data();
const ms = performance.now() - start;
warm.dispose();

const cpu = await initBackend('cpu');
const aCpu = await a.toBackend(cpu);
const bCpu = await b.toBackend(cpu);
const ref = await aCpu.matmul(bCpu).data();
let maxErr = 0;
for (let i = 0; i < ref.length; i++)
  maxErr = Math.max(maxErr, Math.abs(got[i] - ref[i]) / (1 + Math.abs(ref[i])));
const gflops = (2 * n ** 3) / (ms * 1e6);
console.log(
  `matmul ${n}x${n} on ${info.name}: ${ms.toFixed(1)} ms warm (${gflops.toFixed(2)} GFLOP/s); first call ${firstMs.toFixed(0)} ms incl. compile`,
);
console.log(
  `max relative difference vs cpu: ${maxErr.toExponential(2)} ${maxErr < 1e-3 ? '✓' : '✗ MISMATCH'}`,
);
console.log('c[0, 0..4] =', Array.from(got.slice(0, 4), (v) => v.toFixed(3)).join(' '));
if (maxErr >= 1e-3) process.exitCode = 1;
for (const t of [a, b, c, aCpu, bCpu]) t.dispose();
