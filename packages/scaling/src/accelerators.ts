/**
 * Accelerators: peak dense FLOP/s per number format, memory, and a typical rental price, each
 * with its source. Peaks are the vendors' dense figures (NVIDIA's datasheets print tensor-core
 * numbers "with sparsity"; those are halved here). Prices are rough 2024–25 market rates for
 * one accelerator-hour (marketplace and reserved capacity; on-demand hyperscaler prices are
 * often 2–4× higher): defaults for a user to override with `pricePerHour`, not quotes.
 */

/** Peak dense FLOP/s per number format; null where the chip has no such mode. */
export interface PeakFlops {
  /** IEEE single precision (no tensor cores). */
  fp32: number | null;
  /** TensorFloat-32 tensor cores (fp32 storage, 10-bit mantissa products). */
  tf32: number | null;
  /** bfloat16 (and fp16) tensor cores: what mixed-precision training runs at. */
  bf16: number | null;
}

/** A number format for matrix products: a key of {@link PeakFlops}. */
export type ComputeFormat = keyof PeakFlops;

/** One accelerator. */
export interface Accelerator {
  /** Short id, e.g. `a100-80gb`. */
  id: string;
  /** Human name. */
  name: string;
  /** Peak dense FLOP/s. */
  peakFlops: PeakFlops;
  /** Memory per device in bytes. */
  memoryBytes: number;
  /** Memory bandwidth in bytes/s, where known. */
  memoryBandwidth?: number;
  /** Typical rental price in USD per accelerator-hour (a default; override it), or null. */
  pricePerHour: number | null;
  /** Where the numbers come from (vendor datasheet URL, or how they were measured). */
  source: string;
  /** Caveats. */
  notes?: string;
}

const T = 1e12;
const GB = 1e9;

/** The table. */
export const ACCELERATORS: readonly Accelerator[] = Object.freeze([
  {
    id: 'a100-40gb',
    name: 'NVIDIA A100 40GB SXM',
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, bf16: 312 * T },
    memoryBytes: 40 * GB,
    memoryBandwidth: 1555 * GB,
    pricePerHour: 1.0,
    source:
      'https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf',
  },
  {
    id: 'a100-80gb',
    name: 'NVIDIA A100 80GB SXM',
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, bf16: 312 * T },
    memoryBytes: 80 * GB,
    memoryBandwidth: 2039 * GB,
    pricePerHour: 1.2,
    source:
      'https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf',
    notes: 'the GPU of Llama 2 (Touvron et al. 2023, table 2: 400 W A100-80GB)',
  },
  {
    id: 'h100-sxm',
    name: 'NVIDIA H100 SXM',
    peakFlops: { fp32: 67 * T, tf32: 494.5 * T, bf16: 989.5 * T },
    memoryBytes: 80 * GB,
    memoryBandwidth: 3350 * GB,
    pricePerHour: 2.5,
    source: 'https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet',
  },
  {
    id: 'h100-pcie',
    name: 'NVIDIA H100 PCIe',
    peakFlops: { fp32: 51 * T, tf32: 378 * T, bf16: 756 * T },
    memoryBytes: 80 * GB,
    memoryBandwidth: 2000 * GB,
    pricePerHour: 2.0,
    source: 'https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet',
  },
  {
    id: 'h200',
    name: 'NVIDIA H200 SXM',
    peakFlops: { fp32: 67 * T, tf32: 494.5 * T, bf16: 989.5 * T },
    memoryBytes: 141 * GB,
    memoryBandwidth: 4800 * GB,
    pricePerHour: 3.5,
    source: 'https://www.nvidia.com/en-us/data-center/h200/',
  },
  {
    id: 'b200',
    name: 'NVIDIA B200 (HGX, 1000 W)',
    peakFlops: { fp32: 80 * T, tf32: 1100 * T, bf16: 2250 * T },
    memoryBytes: 180 * GB,
    memoryBandwidth: 7700 * GB,
    pricePerHour: 5.0,
    source: 'https://www.nvidia.com/en-us/data-center/hgx/',
    notes: 'HGX B200 per-GPU figures (the GB200 part runs at 1200 W and is faster)',
  },
  {
    id: 'mi300x',
    name: 'AMD Instinct MI300X',
    peakFlops: { fp32: 163.4 * T, tf32: 653.7 * T, bf16: 1307.4 * T },
    memoryBytes: 192 * GB,
    memoryBandwidth: 5300 * GB,
    pricePerHour: 2.0,
    source: 'https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html',
  },
  {
    id: 'tpu-v5e',
    name: 'Google Cloud TPU v5e (per chip)',
    peakFlops: { fp32: null, tf32: null, bf16: 197 * T },
    memoryBytes: 16 * GB,
    memoryBandwidth: 819 * GB,
    pricePerHour: 1.2,
    source: 'https://cloud.google.com/tpu/docs/v5e',
    notes:
      'TPUs multiply in bf16 (fp32 products are emulated with several bf16 passes); price: on-demand list price per chip-hour',
  },
] satisfies Accelerator[]);

/** The ids of {@link ACCELERATORS}. */
export function acceleratorIds(): string[] {
  return ACCELERATORS.map((a) => a.id);
}

/** The accelerator with this id (case-insensitive); throws listing the ids otherwise. */
export function getAccelerator(id: string): Accelerator {
  const found = ACCELERATORS.find((a) => a.id === String(id).toLowerCase());
  if (!found) {
    throw new RangeError(
      `unknown accelerator '${id}'; known: ${acceleratorIds().join(', ')} (or measure this machine with measureThisMachine())`,
    );
  }
  return found;
}

/**
 * The peak an estimate should use: the requested format's, or by default the fastest format the
 * accelerator has (bf16, then tf32, then fp32). Throws when the chip lacks the requested one.
 */
export function peakFlops(
  accelerator: Accelerator,
  format?: ComputeFormat,
): { format: ComputeFormat; flops: number } {
  if (format !== undefined) {
    const flops = accelerator.peakFlops[format];
    if (flops === undefined) throw new RangeError(`format must be fp32, tf32 or bf16, got '${format}'`);
    if (flops === null) {
      const has = (['bf16', 'tf32', 'fp32'] as const).filter((f) => accelerator.peakFlops[f] !== null);
      throw new RangeError(`${accelerator.name} has no ${format} peak; it has ${has.join(', ')}`);
    }
    return { format, flops };
  }
  for (const f of ['bf16', 'tf32', 'fp32'] as const) {
    const flops = accelerator.peakFlops[f];
    if (flops !== null) return { format: f, flops };
  }
  throw new RangeError(`${accelerator.name} has no peak FLOP/s at all`);
}
