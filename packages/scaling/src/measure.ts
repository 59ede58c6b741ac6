/**
 * "This machine" as an accelerator: its fp32 matmul throughput measured with `@kiln/tensor` on
 * the current default backend (WebGPU or the CPU backend), so the cost calculator can answer
 * "how long would this take here?" with the same formulas as for an A100.
 */
import { type Backend, randn, scope, type Tensor } from '@kiln/tensor';
import type { Accelerator } from './accelerators.js';

/** Options of {@link measureThisMachine}. */
export interface MeasureOptions {
  /** Square matrix size n (default 512): each product is 2·n³ FLOPs. */
  size?: number;
  /** Products per timed sample (default 8). */
  reps?: number;
  /** Timed samples; the fastest is kept (default 3). One untimed warm-up sample runs first. */
  samples?: number;
  /** Memory to report, in bytes (default 0: unknown; `@kiln/scaling/node` fills in the RAM). */
  memoryBytes?: number;
  /** Backend to measure (default: the default backend; call `init()` first). */
  backend?: Backend | string;
}

async function readOne(t: Tensor): Promise<void> {
  // Reading one element waits for everything queued before it (one queue per backend).
  await scope(async () => {
    await t.flatten().narrow(0, 0, 1).data();
  });
}

/**
 * Measures fp32 matmul FLOP/s (the fastest of `samples` samples of `reps` n×n products) and
 * returns it as an {@link Accelerator} with id `this-machine` (tf32 and bf16: null, price: null).
 */
export async function measureThisMachine(options: MeasureOptions = {}): Promise<Accelerator> {
  const { size = 512, reps = 8, samples = 3, memoryBytes = 0, backend } = options;
  for (const [key, v] of [
    ['size', size],
    ['reps', reps],
    ['samples', samples],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1))
      throw new RangeError(`measureThisMachine: ${key} must be a positive integer, got ${v}`);
  }
  const a = randn([size, size], { backend });
  const b = randn([size, size], { backend });
  try {
    const sample = async (): Promise<number> => {
      const start = performance.now();
      let last: Tensor | null = null;
      for (let i = 0; i < reps; i++) {
        last?.dispose();
        last = a.matmul(b);
      }
      await readOne(last!);
      last!.dispose();
      return (performance.now() - start) / 1000;
    };
    await sample(); // warm-up: kernel compilation, autotuning, buffer pools
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < samples; i++) best = Math.min(best, await sample());
    const flops = (2 * size ** 3 * reps) / best;
    const info = a.backend.info;
    return {
      id: 'this-machine',
      name: `this machine (${info.name}: ${info.device})`,
      peakFlops: { fp32: flops, tf32: null, bf16: null },
      memoryBytes,
      pricePerHour: null,
      source: `measured: fastest of ${samples} × ${reps} fp32 ${size}×${size} matmuls with @kiln/tensor`,
      notes:
        'a measured matmul rate, not a datasheet peak: an MFU against it is relative to what Kiln reaches here',
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
