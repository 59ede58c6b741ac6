/**
 * Model-level helpers: every MoE layer of a model, its bias-balancing step after each optimizer
 * step, and a `{ totalParams, activeParams, flopsPerToken }` report for `@kiln/scaling`.
 */
import type { Module } from '@kiln/autograd';
import { MoE } from './moe-layer.js';

/** The MoE layers of `model` by parameter path (`blocks.3.mlp`), in order. */
export function moeLayers(model: Module): [string, MoE][] {
  return model.namedModules().filter((entry): entry is [string, MoE] => entry[1] instanceof MoE);
}

/**
 * DeepSeek-V3's balancing step for every MoE layer of `model` with bias balancing: each
 * layer's selection bias moves by γ toward equal load, from the load since the previous call.
 * Call it after each optimizer step, e.g. as the trainer's callback:
 *
 * ```ts
 * new Trainer({ model, data, callbacks: { onStep: () => updateBalancingBias(model) } });
 * ```
 */
export function updateBalancingBias(model: Module): void {
  for (const [, layer] of moeLayers(model)) layer.updateBias();
}

/** A model's size in `@kiln/scaling`'s `ModelReport` shape. */
export interface MoEModelReport {
  /** Every parameter (all experts). */
  totalParams: number;
  /** Parameters one token uses (k routed experts per MoE layer, shared experts, everything else). */
  activeParams: number;
  /** Training FLOPs per token from the active parameters (see `GPT.flopsPerToken`). */
  flopsPerToken: number;
}

/**
 * Total and active parameters and training FLOPs per token of a model with MoE layers (a
 * `GPT`: `numParameters()`, `activeParameters()`, `flopsPerToken()`), for `countModel`.
 */
export function moeModelReport(
  model: {
    numParameters(): number;
    activeParameters(): number;
    flopsPerToken(seqLen?: number): number;
  },
  seqLen?: number,
): MoEModelReport {
  return {
    totalParams: model.numParameters(),
    activeParams: model.activeParameters(),
    flopsPerToken: model.flopsPerToken(seqLen),
  };
}
