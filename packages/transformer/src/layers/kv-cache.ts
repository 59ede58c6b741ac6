/**
 * The key/value cache for generation: per layer, keys and values of every position seen so far,
 * in buffers allocated once for the whole window, so each new token costs one attention row
 * instead of a forward pass over the whole sequence.
 */
import { type Backend, type DType, keep, type Tensor, zeros } from '@kiln/tensor';

/** One layer's cache: `[batch, nKvHeads, capacity, headDim]` each. */
export interface LayerKVCache {
  k: Tensor;
  v: Tensor;
}

/** Options of {@link KVCache}. */
export interface KVCacheOptions {
  backend?: Backend | string;
  dtype?: DType;
}

/** Keys and values of `length` positions for every layer, with room for `capacity`. Dispose it when done. */
export class KVCache {
  /** Per-layer buffers. */
  readonly layers: LayerKVCache[];
  /** Positions filled so far (the position of the next token). */
  length = 0;
  /**
   * bool [batch, capacity]: true at cached padding positions (written by a prefill with padding;
   * null when no row is padded). Decode steps build their attention mask from it, so the padding
   * stays invisible and each row's positions count from its first real token.
   */
  padding: Tensor | null = null;

  constructor(
    nLayers: number,
    readonly batch: number,
    readonly nKvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
    options: KVCacheOptions = {},
  ) {
    const shape = [batch, nKvHeads, capacity, headDim];
    const make = () => keep(zeros(shape, { backend: options.backend, dtype: options.dtype ?? 'float32' }));
    this.layers = Array.from({ length: nLayers }, () => ({ k: make(), v: make() }));
  }

  /** Forgets every position (the buffers are reused). */
  reset(): void {
    this.length = 0;
    this.padding?.dispose();
    this.padding = null;
  }

  /** Frees the buffers. */
  dispose(): void {
    this.reset();
    for (const layer of this.layers) {
      layer.k.dispose();
      layer.v.dispose();
    }
  }
}
