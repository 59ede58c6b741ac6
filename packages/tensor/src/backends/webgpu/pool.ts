import { BufferUsage } from './constants.js';
import type { DeviceErrors } from './errors.js';

type PoolKind = 'activation' | 'parameter' | 'staging';

const USAGE: Record<PoolKind, number> = {
  activation: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
  parameter: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
  staging: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
};

/** Smallest buffer the pool hands out: tiny tensors share one bucket. */
const MIN_BUCKET = 256;

/**
 * Bucket size for `bytes`: sizes of the form m·2^k with m in {4, 5, 6, 7}, so four buckets per
 * octave and at most 25% waste, while a training loop whose shapes repeat hits the same buckets.
 */
export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const octave = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = octave / 4;
  return Math.ceil(bytes / step) * step;
}

/** Options of {@link BufferPool}. */
export interface PoolOptions {
  /** Largest buffer a kernel may bind; buckets never exceed it. */
  maxBindingBytes: number;
  /** Free buffers beyond this many bytes are destroyed instead of kept. */
  maxPooledBytes: number;
  /**
   * Destroys a buffer the pool gives up. Work already encoded may still use it, so the backend
   * defers the destruction until that work is submitted.
   */
  retire: (buffer: GPUBuffer) => void;
}

/**
 * Free lists of GPU buffers by size bucket, with three separate pools: activations (short-lived,
 * bucketed), parameters (long-lived weights and optimizer state: exact sizes, so a model's
 * parameters never hold activation-sized slack), and staging buffers for readback (MAP_READ).
 *
 * Releasing a buffer that enqueued work still reads is safe: all work runs in queue order, so
 * the next user of the buffer writes it only after earlier readers ran.
 */
export class BufferPool {
  #device: GPUDevice;
  #errors: DeviceErrors;
  #options: PoolOptions;
  #free: Record<PoolKind, Map<number, GPUBuffer[]>> = {
    activation: new Map(),
    parameter: new Map(),
    staging: new Map(),
  };
  #liveBytes = 0;
  #liveCount = 0;
  #pooledBytes = 0;
  #pooledCount = 0;

  constructor(device: GPUDevice, errors: DeviceErrors, options: PoolOptions) {
    this.#device = device;
    this.#errors = errors;
    this.#options = options;
  }

  /** The size of the buffer that `acquire(kind, bytes)` returns. */
  sizeFor(kind: PoolKind, bytes: number): number {
    if (kind === 'parameter') return Math.max(MIN_BUCKET, Math.ceil(bytes / 256) * 256);
    const bucket = bucketBytes(bytes);
    // a bucket may not exceed what a kernel can bind, even when the request itself fits
    if (kind === 'activation' && bucket > this.#options.maxBindingBytes) return Math.ceil(bytes / 16) * 16;
    return bucket;
  }

  /** A buffer of at least `bytes` from the free list of `kind`, or a new one. */
  acquire(kind: PoolKind, bytes: number, label: string): GPUBuffer {
    const size = this.sizeFor(kind, bytes);
    const list = this.#free[kind].get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.#pooledBytes -= size;
      this.#pooledCount--;
    } else {
      buffer = this.#errors.scope(
        label,
        () => this.#device.createBuffer({ size, usage: USAGE[kind], label }),
        true,
      );
    }
    this.#liveBytes += size;
    this.#liveCount++;
    return buffer;
  }

  /** Returns a buffer from {@link acquire} to its free list (or destroys it when the pool is full). */
  release(kind: PoolKind, buffer: GPUBuffer): void {
    const size = buffer.size;
    this.#liveBytes -= size;
    this.#liveCount--;
    if (this.#pooledBytes + size > this.#options.maxPooledBytes) {
      this.#options.retire(buffer);
      return;
    }
    let list = this.#free[kind].get(size);
    if (!list) {
      list = [];
      this.#free[kind].set(size, list);
    }
    list.push(buffer);
    this.#pooledBytes += size;
    this.#pooledCount++;
  }

  /** Live and pooled bytes and counts (staging buffers included). */
  stats(): { allocatedBytes: number; pooledBytes: number; liveBuffers: number; pooledBuffers: number } {
    return {
      allocatedBytes: this.#liveBytes,
      pooledBytes: this.#pooledBytes,
      liveBuffers: this.#liveCount,
      pooledBuffers: this.#pooledCount,
    };
  }

  /** Retires every free buffer. */
  trim(): void {
    for (const kind of Object.keys(this.#free) as PoolKind[]) {
      for (const list of this.#free[kind].values()) for (const b of list) this.#options.retire(b);
      this.#free[kind].clear();
    }
    this.#pooledBytes = 0;
    this.#pooledCount = 0;
  }
}
