/**
 * The feed-forward slot of a transformer block: the position-wise sub-layer after attention.
 * `GeluMLP` (GPT-2) and `SwiGLU` (Llama) implement it here; other packages add their own (a
 * mixture of experts, …) and register them with `registerFeedForward`, so a config picks one per
 * block without the transformer knowing about it.
 */
import type { Module } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import type { HFBinding, HFNaming } from '../hf-binding.js';
import type { LayerOptions } from './init.js';

/**
 * What a feed-forward module may use and report besides its input, during one forward pass of
 * a model. The model passes one per block in `forward`; there is none in the incremental
 * (generation) forward or when a module is called on its own, so modules must work without it.
 */
export interface FeedForwardContext {
  /**
   * Reports an auxiliary loss: a 0-d tensor, already multiplied by its coefficient, that the
   * objective adds to the main loss (a load-balancing loss, a router z-loss, …). `name` is local
   * to the module (`'balance'`); the model's output keys it by the module's path
   * (`blocks.3.mlp.balance`). Each name once per forward pass. The model keeps its own handle,
   * so the module's scope may free the tensor it passed as usual.
   */
  reportAuxLoss(name: string, loss: Tensor): void;
  /**
   * Reports a metric to log (any shape: per-expert load, dropped-token counts, …), keyed like
   * the auxiliary losses. Detach it (compute it under `noGrad` or from detached values) unless
   * a gradient through it is wanted.
   */
  reportMetric(name: string, value: Tensor): void;
  /**
   * Which positions of `x` are real tokens: float `[B, T]` (1 = real, 0 = padding) or bool
   * `[B, T]` (true = real). Absent when every position is real. A module that keeps statistics
   * over tokens (an MoE's expert load) leaves the padding out with it.
   */
  tokenMask?: Tensor;
}

/**
 * A block's position-wise feed-forward sub-layer: a `Module` (its parameters are found by
 * property name, so `Block.mlp`'s own names become `blocks.{i}.mlp.*`) that maps
 * `x [..., dModel]` to `[..., dModel]` and names its parameters in Hugging Face checkpoints.
 */
export interface FeedForward extends Module {
  /** `x [..., dModel]` → `[..., dModel]`; `context` is absent outside a model's training forward. */
  forward(x: Tensor, context?: FeedForwardContext): Tensor;
  /**
   * This module's part of the Hugging Face name map. `prefix` is the block's prefix, ending in a
   * dot (`transformer.h.3.` for GPT-2, `model.layers.3.` for Llama); the module appends its own
   * names (`mlp.c_fc.weight`, `block_sparse_moe.gate.weight`, …) in the layout of `naming`.
   */
  hfBindings(prefix: string, naming: HFNaming): HFBinding[];
  /**
   * Parameters one token takes part in (optional; default: all of them, `numParameters()`). A
   * sparse module (a mixture of experts, whose token uses k of its E experts) returns fewer, and
   * `GPT.activeParameters()` / `GPT.flopsPerToken()` count those.
   */
  activeParameters?(): number;
}

/** Options of the built-in feed-forward modules {@link GeluMLP} and {@link SwiGLU}. */
export interface FeedForwardLayerOptions extends LayerOptions {
  /** Biases on the projections (default true). */
  bias?: boolean;
  /** Init std of the output projection (default 0.02; GPT scales it by 1/sqrt(2·nLayers)). */
  outputStd?: number;
}
