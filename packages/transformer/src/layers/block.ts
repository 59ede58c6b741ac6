import { Module } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import { createFeedForward, type FeedForwardSpec } from '../feed-forward-registry.js';
import { Attention, type AttentionContext, type AttentionOptions } from './attention.js';
import { Dropout } from './dropout.js';
import type { FeedForward, FeedForwardContext } from './feed-forward.js';
import type { LayerOptions } from './init.js';
import { LayerNorm } from './layer-norm.js';
import { RMSNorm } from './rms-norm.js';

/** Options of {@link Block}. */
export interface BlockOptions extends LayerOptions {
  /** `layernorm` (GPT-2) or `rmsnorm` (Llama). */
  norm: 'layernorm' | 'rmsnorm';
  /** Epsilon of the norms (default 1e-5). */
  normEps?: number;
  /** Hidden width of the feed-forward module (its spec may override it). */
  dFF: number;
  /**
   * The feed-forward module, as a registered kind and its options: `{ kind: 'gelu' }` (GPT-2),
   * `{ kind: 'swiglu' }` (Llama), or a kind another package registered.
   */
  feedForward: FeedForwardSpec;
  /** Biases in the linear layers and LayerNorms (default true). */
  bias?: boolean;
  /** Dropout on attention weights and both residual branches (default 0). */
  dropout?: number;
  /** Init std of the two residual output projections (default 0.02). */
  outputStd?: number;
  /** Attention shape and options. */
  attention: Pick<AttentionOptions, 'nHeads' | 'nKvHeads' | 'ropeTheta' | 'maxPositions' | 'qkNorm'>;
}

/**
 * A pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`, with dropout on
 * each residual branch. Normalising the branch inputs (not the residual stream) keeps the
 * residual path an identity, which is what makes deep stacks train stably.
 */
export class Block extends Module {
  norm1: LayerNorm | RMSNorm;
  attn: Attention;
  norm2: LayerNorm | RMSNorm;
  /** The feed-forward module (named `mlp` whatever its kind, so parameter names stay `mlp.*`). */
  mlp: FeedForward;
  residDropout: Dropout;

  constructor(
    readonly dModel: number,
    options: BlockOptions,
  ) {
    super();
    const { backend, bias = true, normEps: eps, outputStd, dropout = 0 } = options;
    const norm = () =>
      options.norm === 'layernorm'
        ? new LayerNorm(dModel, { eps, bias, backend })
        : new RMSNorm(dModel, { eps, backend });
    this.norm1 = norm();
    this.attn = new Attention(dModel, {
      ...options.attention,
      bias,
      normEps: eps,
      dropout,
      outputStd,
      backend,
    });
    this.norm2 = norm();
    this.mlp = createFeedForward(options.feedForward, {
      dModel,
      dFF: options.dFF,
      bias,
      outputStd: outputStd ?? 0.02,
      backend,
    });
    this.residDropout = new Dropout(dropout);
  }

  /**
   * `x [B, T, dModel]` → `[B, T, dModel]`. `feedForward` is handed to the feed-forward module
   * (where it reports auxiliary losses and metrics); a model passes one per block.
   */
  forward(x: Tensor, context: AttentionContext = {}, feedForward?: FeedForwardContext): Tensor {
    return scope(() => {
      const h = x.add(this.residDropout.forward(this.attn.forward(this.norm1.forward(x), context)));
      return h.add(this.residDropout.forward(this.mlp.forward(this.norm2.forward(h), feedForward)));
    });
  }
}
