// The fixed workloads of the tensor suite, shared by the suite (which prints and records them)
// and the child processes (which run them on Kiln or TF.js). Each workload states the minimum
// work it implies (FLOPs and bytes that must move), so the suite can compute rates and the
// roofline without knowing how a library does it.

/** Shapes, fixed so that later kernel work can be compared run to run. */
export const MATMUL_SIZES = [256, 512, 1024, 2048] as const;
export const ROWS_SHAPE = [4096, 1024] as const; // add, softmax and layerNorm input
export const ATTENTION = { B: 16, H: 4, T: 128, D: 32 } as const;
/**
 * Fused attention at ATTENTION's shape under a mask: each row packed with `documents` equal
 * documents, or a batch with `padding` of every row padded (left on even rows, right on odd).
 */
export const MASKED_ATTENTION = { ...ATTENTION, documents: 4, padding: 0.25 } as const;
export const ADAMW = { tensors: 10, shape: [1000, 1000] as const }; // 10M parameters
export const COPY_SHAPE = [4096, 4096] as const; // 64 MiB of float32
/** Chained tiny dispatches per sample in the overhead probe. */
export const OVERHEAD_CHAIN = 200;

const F32 = 4;
const prod = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** How a workload's rate is expressed. */
export type RateUnit = 'GFLOP/s' | 'GB/s' | 'tokens/s';

export interface Workload {
  id: string;
  /** Human label for tables. */
  label: string;
  /** Rates are computed from this: FLOPs (GFLOP/s), bytes (GB/s) or tokens (tokens/s). */
  unit: RateUnit;
  /** FLOPs of one op (multiply-add = 2). */
  flops: number;
  /** Bytes that must move for one op at the least (every input read once, every output written once). */
  bytes: number;
  /** Ops enqueued back to back per timed sample (one readback at the end). */
  reps: number;
  samples: number;
  warmup: number;
  /** Also run on Kiln's CPU backend (reference line). */
  cpu?: boolean;
  /** Token positions one op processes (tokens/s workloads). */
  tokens?: number;
  /** Kiln only: no TF.js or PyTorch line (the peers have no such op). */
  kilnOnly?: boolean;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

/**
 * The workloads with their sample counts. BENCH_SAMPLES overrides every count except matmul 2048
 * (BENCH_SAMPLES_LARGE, default 3: one 2048³ product takes tens of seconds on lavapipe).
 */
export function workloads(): Workload[] {
  const samples = (fallback: number) => envInt('BENCH_SAMPLES', fallback);
  const matmul = MATMUL_SIZES.map(
    (n): Workload => ({
      id: `matmul-${n}`,
      label: `matmul ${n}³`,
      unit: 'GFLOP/s',
      flops: 2 * n ** 3,
      bytes: 3 * n * n * F32,
      // small products are repeated so one sample is well above timer and readback noise
      reps: n <= 256 ? 8 : n <= 512 ? 2 : 1,
      samples: n >= 2048 ? envInt('BENCH_SAMPLES_LARGE', 3) : samples(n >= 1024 ? 4 : 6),
      warmup: 1,
      cpu: n <= 512,
    }),
  );
  const rows = prod(ROWS_SHAPE);
  const { B, H, T, D } = ATTENTION;
  const qkv = B * H * T * D;
  const params = ADAMW.tensors * prod(ADAMW.shape);
  const copy = prod(COPY_SHAPE);
  return [
    ...matmul,
    // the elementwise primitive most of a training step is made of: read x and y, write x + y
    {
      id: 'add',
      label: `add [${ROWS_SHAPE}] + [${ROWS_SHAPE}]`,
      unit: 'GB/s',
      flops: rows,
      bytes: 3 * rows * F32,
      reps: 4,
      samples: samples(6),
      warmup: 1,
    },
    // read x, write y; the row statistics never leave the kernel in a fused implementation
    {
      id: 'softmax',
      label: `softmax [${ROWS_SHAPE}]`,
      unit: 'GB/s',
      flops: 5 * rows,
      bytes: 2 * rows * F32,
      reps: 4,
      samples: samples(6),
      warmup: 1,
    },
    {
      id: 'layernorm',
      label: `layerNorm [${ROWS_SHAPE}]`,
      unit: 'GB/s',
      flops: 8 * rows,
      bytes: 2 * rows * F32,
      reps: 4,
      samples: samples(6),
      warmup: 1,
    },
    {
      id: 'attention',
      label: `attention fwd+bwd B${B} H${H} T${T} D${D}`,
      unit: 'GFLOP/s',
      // forward QKᵀ and PV (2 products), backward 4 more: 6 products of 2·B·H·T²·D each, causal
      // half not skipped (what the unfused graphs compute)
      flops: 12 * B * H * T * T * D,
      // fused (flash-style) minimum: read q, k, v, dO; write o, dq, dk, dv
      bytes: 8 * qkv * F32,
      reps: 1,
      samples: samples(5),
      warmup: 1,
    },
    {
      // Kiln's fused attention only: the same shape causal (the '' line) and masked, forward +
      // backward; tokens = B·T positions per op whatever the mask hides
      id: 'attention-masked',
      label: `masked attention fwd+bwd B${B} H${H} T${T} D${D}`,
      unit: 'tokens/s',
      tokens: B * T,
      flops: 12 * B * H * T * T * D,
      bytes: 8 * qkv * F32,
      reps: 1,
      // short samples (tens of ms), interleaved across the four masks: more of them
      samples: samples(9),
      warmup: 1,
      kilnOnly: true,
    },
    {
      id: 'adamw',
      label: `AdamW step, ${ADAMW.tensors} × [${ADAMW.shape}]`,
      unit: 'GB/s',
      flops: 16 * params,
      // read p, g, m, v; write p, m, v
      bytes: 7 * params * F32,
      reps: 1,
      samples: samples(5),
      warmup: 1,
    },
    {
      id: 'copy',
      label: `copy [${COPY_SHAPE}] (64 MiB)`,
      unit: 'GB/s',
      flops: 0,
      bytes: 2 * copy * F32,
      reps: 4,
      samples: samples(5),
      warmup: 1,
    },
  ];
}

/** One measured line from a child: milliseconds per op of each sample. */
export interface Measurement {
  /**
   * Which variant of the workload ran: '' for the workload itself; e.g. `plain`/`transposed` for
   * copies, `tf.train.adam …` for an extra peer line. Rows of the report are matched on it.
   */
  variant: string;
  msPerOp: number[];
  /** A measurement of the adapter itself (raw WebGPU, no library): the bandwidth roof. */
  raw?: boolean;
  /**
   * The reference kernel of this workload (reference-matmul.ts), timed interleaved with Kiln's
   * line in the same process: printed as Kiln's ratio to it, not as a row of its own.
   */
  reference?: boolean;
}

/** What a child process prints as its last line. */
export interface ChildResult {
  measurements: Measurement[];
  notes: string[];
}

/** Rate of one op taking `ms`, in the workload's unit. */
export function rate(
  unit: RateUnit,
  work: { flops: number; bytes: number; tokens?: number },
  ms: number,
): number {
  const perSecond = 1000 / ms;
  if (unit === 'tokens/s') return (work.tokens ?? 0) * perSecond;
  return unit === 'GFLOP/s' ? (work.flops * perSecond) / 1e9 : (work.bytes * perSecond) / 1e9;
}
