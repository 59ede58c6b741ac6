/**
 * `MoE`: a mixture-of-experts feed-forward module for `@kiln/transformer`'s feed-forward slot.
 * route → plan the pairs → dispatch (dropless or capacity) → weighted combine, plus the shared
 * experts, and the balancing losses and router metrics reported through the slot's context.
 */
import { isGradEnabled, Module, noGrad } from '@kiln/autograd';
import { type Backend, keep, scope, type Tensor } from '@kiln/tensor';
import {
  type FeedForward,
  type FeedForwardContext,
  GeluMLP,
  type HFBinding,
  type HFNaming,
  linearHFBindings,
  SwiGLU,
} from '@kiln/transformer';
import { planAssignments } from './assignments.js';
import { routerZLoss, switchAuxLoss, updateSelectionBias } from './balancing.js';
import { combineSlots } from './combine.js';
import { dispatchCapacity } from './dispatch-capacity.js';
import { type DispatchResult, dispatchDropless } from './dispatch-dropless.js';
import { Experts } from './experts.js';
import { type MoEOptions, type ResolvedMoEOptions, resolveMoEOptions } from './options.js';
import { Router } from './router.js';

/** Construction options of {@link MoE} besides the {@link MoEOptions}. */
export interface MoELayerOptions {
  /** Init std of the experts' output projections (default 0.02; a GPT passes 0.02/√(2·nLayers)). */
  outputStd?: number;
  /** Where the parameters are created. */
  backend?: Backend | string;
}

/**
 * A mixture-of-experts feed-forward module: `x [..., dModel]` → `[..., dModel]`.
 *
 * Parameters: `router.weight [E, dModel]` (and `router.selectionBias [E]` with bias balancing,
 * no gradient), `experts.w1`/`w3 [E·expertDFF, dModel]` and `experts.w2 [E·dModel, expertDFF]`
 * (Mixtral's per-expert matrices stacked), and `shared.*` (one SwiGLU or GELU MLP of width
 * `sharedExperts · expertDFF`) with shared experts.
 *
 * Reports, when given a context (a GPT's training or evaluation forward), keyed under the
 * block's path: the auxiliary losses `balance` (Switch) and `zloss` when on, and the metrics
 * `load.{i}` (fraction of routed pairs that chose expert i, real tokens only) and, with
 * capacity dispatch, `dropped` (fraction of pairs dropped) and `dropped.{i}` (pairs dropped at
 * expert i).
 *
 * ```ts
 * const moe = new MoE(64, { experts: 8, topK: 2, expertDFF: 128 });
 * const y = moe.forward(x); // x [B, T, 64]
 * ```
 */
export class MoE extends Module implements FeedForward {
  /** The options with defaults filled in. */
  readonly options: ResolvedMoEOptions;
  /** The router (`router.weight`, and `router.selectionBias` with bias balancing). */
  router: Router;
  /** The routed experts' stacked weights. */
  experts: Experts;
  /** The always-on shared experts, fused into one MLP, or null. */
  shared: SwiGLU | GeluMLP | null;
  /** Routed pairs per expert since the last bias update (bias balancing, training only). */
  #load: Tensor | null = null;

  constructor(
    readonly dModel: number,
    options: MoEOptions,
    layer: MoELayerOptions = {},
  ) {
    super();
    const o = resolveMoEOptions(options as unknown as Record<string, unknown>, 'MoE options');
    this.options = o;
    const { backend } = layer;
    const outputStd = layer.outputStd ?? 0.02;
    this.router = new Router(dModel, o.experts, {
      scoring: o.scoring,
      topK: o.topK,
      normalizeTopK: o.normalizeTopK,
      routedScale: o.routedScale,
      jitter: o.jitter,
      selectionBias: o.balancing.biasUpdateRate > 0,
      backend,
    });
    this.experts = new Experts(o.experts, dModel, o.expertDFF, {
      activation: o.activation,
      outputStd,
      backend,
    });
    const sharedDFF = o.sharedExperts * o.expertDFF;
    const dense = { bias: false, outputStd, backend };
    this.shared =
      sharedDFF === 0
        ? null
        : o.activation === 'swiglu'
          ? new SwiGLU(dModel, sharedDFF, dense)
          : new GeluMLP(dModel, sharedDFF, dense);
  }

  /** See {@link FeedForward.forward}. */
  forward(x: Tensor, context?: FeedForwardContext): Tensor {
    const o = this.options;
    return scope(() => {
      const shape = x.shape;
      const flat = x.reshape([x.size / this.dModel, this.dModel]);
      const routing = this.router.route(flat);
      const mask = context?.tokenMask
        ? noGrad(() => context.tokenMask!.reshape([flat.shape[0]]).cast(x.dtype))
        : null;
      // capacity gives padding pairs no slot; dropless computes them like real ones (every pair
      // needs its own sorted row, and their output is never used)
      const plan = planAssignments(routing.experts, o.experts, o.dispatch === 'capacity' ? mask : null);
      let dropped: Tensor | null = null;
      let dispatched: DispatchResult;
      if (o.dispatch === 'capacity') {
        const result = dispatchCapacity(flat, plan, this.experts, o.capacityFactor);
        dispatched = result;
        dropped = result.dropped;
      } else {
        dispatched = dispatchDropless(flat, plan, this.experts);
      }
      let out = combineSlots(dispatched.rows, dispatched.slots, routing.gates);
      if (this.shared) out = out.add(this.shared.forward(flat));

      // pairs per expert over real tokens (padding is routed but not counted)
      const counts =
        mask && o.dispatch !== 'capacity'
          ? noGrad(() =>
              plan.oneHot
                .mul(mask.unsqueeze(0).expand([o.topK, mask.size]).reshape([plan.expert.size, 1]))
                .sum(0),
            )
          : plan.counts;
      if (this.router.selectionBias && this.training && isGradEnabled()) this.#accumulateLoad(counts);
      if (context) this.#report(context, routing.scores, routing.logits, counts, mask, dropped);
      return out.reshape(shape);
    });
  }

  /**
   * Applies one DeepSeek-V3 bias step from the load routed since the previous call (training
   * forwards only) and clears it; a no-op without bias balancing or without new load. Call it
   * after each optimizer step (`updateBalancingBias(model)` does it for every MoE of a model).
   */
  updateBias(): void {
    const bias = this.router.selectionBias;
    if (!bias || !this.#load) return;
    scope(() => updateSelectionBias(bias, this.#load!, this.options.balancing.biasUpdateRate));
    this.#load.dispose();
    this.#load = null;
  }

  /** Parameters one token uses: the router, k routed experts and the shared experts (the selection bias is not a weight). */
  activeParameters(): number {
    const o = this.options;
    return (
      this.numParameters() -
      (o.experts - o.topK) * this.experts.perExpert -
      (this.router.selectionBias?.size ?? 0)
    );
  }

  /**
   * Mixtral's names under `prefix` (the block's, e.g. `model.layers.3.`), for either naming:
   * `block_sparse_moe.gate.weight [E, dModel]`, `block_sparse_moe.experts.{i}.w1/w2/w3.weight`
   * (`nn.Linear` layout), plus Kiln's extensions `block_sparse_moe.gate.e_score_correction_bias`
   * (DeepSeek-V3's name, bias balancing only) and `block_sparse_moe.shared_experts.{gate,up,down}_proj`.
   */
  hfBindings(prefix: string, _naming: HFNaming): HFBinding[] {
    const p = `${prefix}block_sparse_moe.`;
    const { expertDFF: f, experts: E } = this.options;
    const d = this.dModel;
    const out: HFBinding[] = [{ name: `${p}gate.weight`, param: this.router.weight }];
    if (this.router.selectionBias)
      out.push({ name: `${p}gate.e_score_correction_bias`, param: this.router.selectionBias });
    for (let i = 0; i < E; i++) {
      out.push({ name: `${p}experts.${i}.w1.weight`, param: this.experts.w1, rows: [i * f, (i + 1) * f] });
      out.push({ name: `${p}experts.${i}.w2.weight`, param: this.experts.w2, rows: [i * d, (i + 1) * d] });
      if (this.experts.w3)
        out.push({ name: `${p}experts.${i}.w3.weight`, param: this.experts.w3, rows: [i * f, (i + 1) * f] });
    }
    const s = this.shared;
    if (s instanceof SwiGLU) {
      out.push(...linearHFBindings(`${p}shared_experts.gate_proj`, s.gate));
      out.push(...linearHFBindings(`${p}shared_experts.up_proj`, s.up));
      out.push(...linearHFBindings(`${p}shared_experts.down_proj`, s.down));
    } else if (s) {
      out.push(...linearHFBindings(`${p}shared_experts.up_proj`, s.fc));
      out.push(...linearHFBindings(`${p}shared_experts.down_proj`, s.proj));
    }
    return out;
  }

  /** Frees the parameters and the pending load. */
  override dispose(): void {
    this.#load?.dispose();
    this.#load = null;
    super.dispose();
  }

  #accumulateLoad(counts: Tensor): void {
    noGrad(() => {
      const next = keep(this.#load ? this.#load.add(counts) : counts.alias());
      this.#load?.dispose();
      this.#load = next;
    });
  }

  #report(
    context: FeedForwardContext,
    scores: Tensor,
    logits: Tensor,
    counts: Tensor,
    mask: Tensor | null,
    dropped: Tensor | null,
  ): void {
    const o = this.options;
    const { auxLoss, zLoss } = o.balancing;
    if (auxLoss > 0) {
      context.reportAuxLoss(
        'balance',
        switchAuxLoss(scores, counts, mask, o.topK, auxLoss, o.scoring === 'sigmoid'),
      );
    }
    if (zLoss > 0) context.reportAuxLoss('zloss', routerZLoss(logits, mask, zLoss));
    noGrad(() => {
      const total = counts.sum();
      const fraction = counts.div(total);
      for (let i = 0; i < o.experts; i++)
        context.reportMetric(`load.${i}`, fraction.slice(0, i, i + 1).reshape([]));
      if (dropped) {
        context.reportMetric('dropped', dropped.sum().div(total));
        for (let i = 0; i < o.experts; i++)
          context.reportMetric(`dropped.${i}`, dropped.slice(0, i, i + 1).reshape([]));
      }
    });
  }
}
