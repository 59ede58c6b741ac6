import type { DType } from '../../dtype.js';

/** Which free list a storage's buffer returns to. */
export type StorageUsage = 'activation' | 'parameter';

/**
 * The `S` of `Backend<S>` for WebGPU: one GPUBuffer per tensor storage. The buffer may be larger
 * than the tensor (pool buckets); kernels get element offsets and counts through their uniforms
 * and always bind the whole buffer.
 */
export class GpuStorage {
  /** True once returned to the pool; the buffer may then belong to another storage. */
  released = false;

  constructor(
    readonly buffer: GPUBuffer,
    readonly dtype: DType,
    /** Elements. */
    readonly size: number,
    /** The buffer's size in bytes (the pool bucket). */
    readonly capacity: number,
    readonly usage: StorageUsage,
  ) {}
}
