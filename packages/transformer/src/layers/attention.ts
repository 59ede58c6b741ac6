import { isGradEnabled, Module } from '@kiln/autograd';
import { type AttentionMask, attention, attentionWeights, scope, type Tensor } from '@kiln/tensor';
import { Dropout } from './dropout.js';
import type { LayerOptions } from './init.js';
import type { LayerKVCache } from './kv-cache.js';
import { Linear } from './linear.js';
import { RMSNorm } from './rms-norm.js';
import { applyRope, type RopeTables, RotaryEmbedding } from './rope.js';

/** Options of {@link Attention}. */
export interface AttentionOptions extends LayerOptions {
  /** Query heads. */
  nHeads: number;
  /** Key/value heads (default `nHeads`); grouped-query attention when fewer. Must divide `nHeads`. */
  nKvHeads?: number;
  /** Biases on the projections (default true). */
  bias?: boolean;
  /** Rotary position embeddings with this base θ (e.g. 10000); none when omitted. */
  ropeTheta?: number;
  /** Longest sequence for RoPE when the layer builds its own tables (default 2048). */
  maxPositions?: number;
  /** RMS-normalise each query and key head (learned gain over the head dimension) before RoPE. */
  qkNorm?: boolean;
  /** Epsilon of the QK norms (default 1e-5). */
  normEps?: number;
  /** Dropout on the attention weights (default 0). */
  dropout?: number;
  /** Init std of the output projection (default 0.02; GPT scales it by 1/sqrt(2·nLayers)). */
  outputStd?: number;
}

/** What a forward pass needs besides `x`; everything is optional for a plain causal pass. */
export interface AttentionContext {
  /**
   * Absolute position of the first row of `x` (default 0; with a cache, the number of cached
   * positions): where the cache is written, and the positions of RoPE tables built here.
   */
  position?: number;
  /**
   * Which keys each query sees (`attentionMask` of @kiln/tensor: causal, packed documents,
   * padding), shared by the layers of a model. Default: causal.
   */
  mask?: AttentionMask<Tensor>;
  /** RoPE tables for the positions of `x` (`[T, hd]`, or `[B, 1, T, hd]` per token), shared by the layers of a model; built here when omitted. */
  rope?: RopeTables;
  /** This layer's KV cache (inference only): keys/values of `x` are written at `position`, and attention reads positions 0 … position+T−1. */
  cache?: LayerKVCache;
}

/** The mask of a plain pass: each query sees its own and earlier positions. */
const CAUSAL: AttentionMask<Tensor> = { causal: true, ranges: null };

/**
 * Causal multi-head self-attention with grouped-query attention, optional RoPE and QK-norm, and
 * an optional KV cache.
 *
 * q, k and v come from one fused projection `qkv` (rows: nHeads·headDim queries, then
 * nKvHeads·headDim keys, then as many values), which is also GPT-2's `c_attn` layout. Query head
 * h uses key/value head ⌊h / (nHeads/nKvHeads)⌋ (the Hugging Face convention). The query heads
 * of a group are stacked along the row axis, so one batched matmul per group serves them all
 * without copying keys and values.
 */
export class Attention extends Module {
  /** Fused q/k/v projection `[(nHeads + 2·nKvHeads)·headDim, dModel]`. */
  qkv: Linear;
  /** Output projection `[dModel, nHeads·headDim]`. */
  o: Linear;
  /** Per-head query norm (qkNorm only). */
  qNorm: RMSNorm | null;
  /** Per-head key norm (qkNorm only). */
  kNorm: RMSNorm | null;
  /** Dropout on the attention weights. */
  attnDropout: Dropout;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  /** RoPE base θ, or null without RoPE. */
  readonly ropeTheta: number | null;
  readonly #maxPositions: number;
  #rotary: RotaryEmbedding | null = null;

  constructor(
    readonly dModel: number,
    options: AttentionOptions,
  ) {
    super();
    const { nHeads, nKvHeads = nHeads } = options;
    if (dModel % nHeads !== 0)
      throw new RangeError(`Attention: dModel (${dModel}) must be divisible by nHeads (${nHeads})`);
    if (nHeads % nKvHeads !== 0)
      throw new RangeError(`Attention: nHeads (${nHeads}) must be divisible by nKvHeads (${nKvHeads})`);
    this.nHeads = nHeads;
    this.nKvHeads = nKvHeads;
    this.headDim = dModel / nHeads;
    const bias = options.bias ?? true;
    this.qkv = new Linear(dModel, (nHeads + 2 * nKvHeads) * this.headDim, { bias, backend: options.backend });
    this.o = new Linear(nHeads * this.headDim, dModel, {
      bias,
      std: options.outputStd,
      backend: options.backend,
    });
    const normOptions = { eps: options.normEps, backend: options.backend };
    this.qNorm = options.qkNorm ? new RMSNorm(this.headDim, normOptions) : null;
    this.kNorm = options.qkNorm ? new RMSNorm(this.headDim, normOptions) : null;
    this.attnDropout = new Dropout(options.dropout ?? 0);
    this.ropeTheta = options.ropeTheta ?? null;
    this.#maxPositions = options.maxPositions ?? 2048;
  }

  /** `x [B, T, dModel]` → `[B, T, dModel]`. */
  forward(x: Tensor, context: AttentionContext = {}): Tensor {
    return scope(() => {
      const [B, T] = x.shape;
      const { nHeads: H, nKvHeads: Hkv, headDim: hd } = this;
      const position = context.position ?? 0;
      const qkv = this.qkv.forward(x); // [B, T, (H + 2·Hkv)·hd]
      // [B, T, heads·hd] → [B, heads, T, hd]
      const heads = (start: number, n: number) =>
        qkv
          .slice(-1, start * hd, (start + n) * hd)
          .reshape([B, T, n, hd])
          .permute([0, 2, 1, 3]);
      let q = heads(0, H);
      let k = heads(H, Hkv);
      let v = heads(H + Hkv, Hkv);
      if (this.qNorm && this.kNorm) {
        q = this.qNorm.forward(q);
        k = this.kNorm.forward(k);
      }
      if (this.ropeTheta !== null) {
        const rope = context.rope ?? this.#ownRotary().tables(position, T, x.backend, x.dtype);
        q = applyRope(q, rope);
        k = applyRope(k, rope);
      }
      if (context.cache) {
        ({ k, v } = this.#appendToCache(context.cache, k, v, position));
      }
      // Flash-style fused attention never forms the T×Tk scores; only dropout on the attention
      // weights needs the matrix itself.
      const mask = context.mask ?? CAUSAL;
      const scale = 1 / Math.sqrt(hd);
      let y: Tensor;
      if (!(this.attnDropout.training && this.attnDropout.p > 0)) {
        y = attention(q, k, v, { mask, scale });
      } else {
        const Tk = k.shape[2];
        const weights = this.attnDropout.forward(attentionWeights(q, k, { mask, scale }));
        // each group of query heads against its key/value head: [B, Hkv, G·T, Tk] · [B, Hkv, Tk, hd]
        y = weights
          .reshape([B, Hkv, (H / Hkv) * T, Tk])
          .matmul(v)
          .reshape([B, H, T, hd]);
      }
      return this.o.forward(y.permute([0, 2, 1, 3]).reshape([B, T, H * hd]));
    });
  }

  /** Tables for standalone use (a model passes shared tables in the context instead). */
  #ownRotary(): RotaryEmbedding {
    this.#rotary ??= new RotaryEmbedding(this.headDim, this.#maxPositions, this.ropeTheta!);
    return this.#rotary;
  }

  /** Writes k/v `[B, Hkv, T, hd]` at `position` and returns views of every cached position. */
  #appendToCache(cache: LayerKVCache, k: Tensor, v: Tensor, position: number): { k: Tensor; v: Tensor } {
    if (isGradEnabled()) {
      throw new Error(
        'Attention: the KV cache is for inference; run the forward pass inside noGrad(() => …)',
      );
    }
    const T = k.shape[2];
    const capacity = cache.k.shape[2];
    if (position + T > capacity) {
      throw new RangeError(
        `Attention: the KV cache holds ${capacity} positions but positions ${position}…${position + T - 1} were written; reset it or allocate a larger one`,
      );
    }
    cache.k.slice(2, position, position + T).assign(k);
    cache.v.slice(2, position, position + T).assign(v);
    return { k: cache.k.slice(2, 0, position + T), v: cache.v.slice(2, 0, position + T) };
  }
}
