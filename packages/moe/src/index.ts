/**
 * @kiln/moe: mixture-of-experts layers for Kiln's transformer. Importing it registers the `moe`
 * feed-forward kind, so `GPTConfig.feedForward: { kind: 'moe', experts, topK, ... }` (or
 * `moeFeedForward(config, options, { everyNLayers })`) builds MoE blocks.
 *
 * - The layer `MoE`: a router (softmax or sigmoid, top-k with optional renormalisation, jitter),
 *   SwiGLU or GELU experts (fine-grained widths, always-on shared experts), and two dispatch
 *   modes on every backend without a read-back: `dropless` (pairs sorted by expert into
 *   block-padded rows, one grouped product) and `capacity` (fixed slots, overflow dropped and
 *   counted, passing through the residual).
 * - Balancing: the Switch auxiliary loss over the whole batch per layer, the router z-loss, and
 *   DeepSeek-V3's bias balancing (`updateBalancingBias(model)` after each optimizer step); the
 *   per-expert load and dropped pairs of each layer are metrics.
 * - Mixtral's Hugging Face names (`block_sparse_moe.gate`, `experts.{i}.w1/w2/w3`) and
 *   `config.json` keys (`mixtralConfig`, `fromMixtralConfig`).
 *
 * ```ts
 * import { GPT } from '@kiln/transformer';
 * import { moeFeedForward } from '@kiln/moe';
 * const config = GPT.config('llama-tiny');
 * config.feedForward = moeFeedForward(config, { experts: 8, topK: 2, expertDFF: 64 });
 * const model = new GPT(config);
 * model.numParameters(); model.activeParameters();
 * ```
 * @packageDocumentation
 */

export { type Assignments, pairRows, planAssignments } from './assignments.js';
export { routerZLoss, switchAuxLoss, updateSelectionBias } from './balancing.js';
export { combineSlots } from './combine.js';
export { type CapacityResult, dispatchCapacity, expertCapacity } from './dispatch-capacity.js';
export {
  type DispatchResult,
  type DroplessLayout,
  dispatchDropless,
  droplessLayout,
} from './dispatch-dropless.js';
export { Experts, type ExpertsOptions } from './experts.js';
export { fromMixtralConfig, toMixtralConfig } from './hf-mixtral.js';
export { type MoEModelReport, moeLayers, moeModelReport, updateBalancingBias } from './model.js';
export { MoE, type MoELayerOptions } from './moe-layer.js';
export {
  type BalancingOptions,
  type DispatchMode,
  type ExpertActivation,
  type MoEOptions,
  type ResolvedMoEOptions,
  type RouterScoring,
  resolveMoEOptions,
} from './options.js';
export { MOE_KIND, type MoEPlacement, moeFactory, moeFeedForward } from './register.js';

// registers the 'moe' feed-forward kind and the 'mixtral' config.json format on import
import './register.js';
import './hf-mixtral.js';

export { Router, type RouterOptions, type Routing } from './router.js';
