/**
 * The router: a linear map from a token to one logit per expert, scores (softmax or sigmoid),
 * and the top-k choice. The gate weights are the chosen scores (renormalised on request), so the
 * router learns through them; a balancing bias (DeepSeek-V3) changes which experts are chosen,
 * never the gate weights.
 */
import { Module, noGrad, Parameter } from '@kiln/autograd';
import { type Backend, gather, rand, randn, type Tensor, topk, zeros } from '@kiln/tensor';
import type { RouterScoring } from './options.js';

/** What {@link Router.route} returns for `N` tokens. */
export interface Routing {
  /** `[N, E]` router logits (before scoring), for the z-loss. */
  logits: Tensor;
  /** `[N, E]` scores: softmax probabilities, or sigmoid affinities. */
  scores: Tensor;
  /** `[N, k]` int32 chosen experts, best first. */
  experts: Tensor;
  /** `[N, k]` gate weights of the chosen experts (differentiable). */
  gates: Tensor;
}

/** Options of {@link Router}. */
export interface RouterOptions {
  /** `softmax` over experts or per-expert `sigmoid`. */
  scoring: RouterScoring;
  /** Experts per token. */
  topK: number;
  /** Divide the chosen scores by their sum. */
  normalizeTopK: boolean;
  /** Multiplier of the gate weights (1 = none). */
  routedScale?: number;
  /** Multiplicative input noise ε in training (0 = none). */
  jitter: number;
  /** Keep a selection bias (DeepSeek-V3 balancing). */
  selectionBias: boolean;
  backend?: Backend | string;
}

/**
 * `gate`: the `[E, dModel]` router weight (Mixtral's `block_sparse_moe.gate`, no bias), and,
 * with bias balancing, `selectionBias [E]` (DeepSeek-V3's `e_score_correction_bias`), a
 * parameter without gradient that only the balancing update changes.
 */
export class Router extends Module {
  /** `[E, dModel]`. */
  weight: Parameter;
  /** `[E]` added to the scores for selection only, or null. */
  selectionBias: Parameter | null;

  constructor(
    readonly dModel: number,
    readonly experts: number,
    readonly options: RouterOptions,
  ) {
    super();
    const { backend } = options;
    this.weight = new Parameter(randn([experts, dModel], { std: 0.02, backend }));
    this.selectionBias = options.selectionBias
      ? new Parameter(zeros([experts], { backend }), { requiresGrad: false })
      : null;
  }

  /** Routes `x [N, dModel]`: logits, scores, the chosen experts and their gate weights. */
  route(x: Tensor): Routing {
    const { scoring, topK, normalizeTopK, jitter } = this.options;
    let input = x;
    if (jitter > 0 && this.training) {
      // Switch's jitter: multiplicative noise on the router input only (the experts see x)
      input = x.mul(rand(x.shape, { low: 1 - jitter, high: 1 + jitter, backend: x.backend, dtype: x.dtype }));
    }
    const logits = input.matmul(this.weight.T);
    const scores = scoring === 'softmax' ? logits.softmax(-1) : logits.sigmoid();
    const experts = noGrad(() => {
      const keys = this.selectionBias ? scores.add(this.selectionBias) : scores;
      return topk(keys, topK, { axis: -1 })[1];
    });
    let gates = gather(scores, 1, experts);
    if (normalizeTopK) gates = gates.div(gates.sum(-1, true));
    const scale = this.options.routedScale ?? 1;
    if (scale !== 1) gates = gates.mul(scale);
    return { logits, scores, experts, gates };
  }
}
