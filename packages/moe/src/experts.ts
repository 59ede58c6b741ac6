/**
 * The routed experts: E small MLPs whose weights are stored stacked, one tensor per projection,
 * in Mixtral's per-expert `nn.Linear` layout (`w1`, `w3`: `[E·dFF, dModel]`, `w2`: `[E·dModel, dFF]`,
 * expert i's matrix being rows `[i·out, (i+1)·out)`), so a checkpoint's `experts.{i}.w1.weight`
 * is a row block of one parameter. Two ways to run them, one per dispatch mode: on per-expert
 * slabs `[E, C, dModel]` (capacity), and on rows sorted by expert with each expert's run
 * given by its end (dropless: the grouped product).
 */
import { Module, Parameter } from '@kiln/autograd';
import { type Backend, groupedMatmul, randn, type Tensor } from '@kiln/tensor';
import type { ExpertActivation } from './options.js';

/** Options of {@link Experts}. */
export interface ExpertsOptions {
  /** SwiGLU (w1, w3, w2) or GELU (w1, w2) experts. */
  activation: ExpertActivation;
  /** Init std of the output projection `w2` (the residual-stream writer). */
  outputStd: number;
  /** Where the parameters are created. */
  backend?: Backend | string;
}

/**
 * E expert MLPs without biases. SwiGLU (Mixtral): `w2(silu(w1 x) · w3 x)`; GELU: `w2(gelu(w1 x))`
 * (tanh GELU, no `w3`).
 */
export class Experts extends Module {
  /** `[E·dFF, dModel]`: gate projection (SwiGLU) or input projection (GELU). */
  w1: Parameter;
  /** `[E·dFF, dModel]`: up projection (SwiGLU), or null for GELU experts. */
  w3: Parameter | null;
  /** `[E·dModel, dFF]`: output projection. */
  w2: Parameter;

  constructor(
    readonly count: number,
    readonly dModel: number,
    readonly dFF: number,
    readonly options: ExpertsOptions,
  ) {
    super();
    const { backend } = options;
    this.w1 = new Parameter(randn([count * dFF, dModel], { std: 0.02, backend }));
    this.w3 =
      options.activation === 'swiglu'
        ? new Parameter(randn([count * dFF, dModel], { std: 0.02, backend }))
        : null;
    this.w2 = new Parameter(randn([count * dModel, dFF], { std: options.outputStd, backend }));
  }

  /** Parameters of one expert. */
  get perExpert(): number {
    return (this.w3 ? 3 : 2) * this.dModel * this.dFF;
  }

  /**
   * Expert e on slab e: `x [E, C, dModel]` → `[E, C, dModel]` (one batched product per
   * projection; the weights are transposed views, read in place).
   */
  forwardSlabs(x: Tensor): Tensor {
    const E = this.count;
    const w = (p: Parameter, out: number, inner: number) => p.reshape([E, out, inner]).permute([0, 2, 1]);
    return this.#mlp(
      x,
      w(this.w1, this.dFF, this.dModel),
      this.w3 && w(this.w3, this.dFF, this.dModel),
      w(this.w2, this.dModel, this.dFF),
    );
  }

  /**
   * The grouped product over expert-sorted rows: `x [R, dModel]`, expert e owning rows
   * `[ends[e−1], ends[e])` (`ends` int32 `[E]`) → `[R, dModel]`. Each projection is one
   * `groupedMatmul` reading the stacked weights in place (a transposed view, no gather, no
   * padding); its backward is the same kernel and `groupedOuter` for the weights.
   */
  forwardGrouped(x: Tensor, ends: Tensor): Tensor {
    const E = this.count;
    const w = (p: Parameter, out: number, inner: number) => p.reshape([E, out, inner]).permute([0, 2, 1]);
    const w1 = w(this.w1, this.dFF, this.dModel);
    const up = groupedMatmul(x, w1, ends);
    const h = this.w3
      ? up.silu().mul(groupedMatmul(x, w(this.w3, this.dFF, this.dModel), ends))
      : up.gelu({ approximate: 'tanh' });
    return groupedMatmul(h, w(this.w2, this.dModel, this.dFF), ends);
  }

  /** The MLP over batched `[G, rows, in]` with `[G, in, out]` weights. */
  #mlp(x: Tensor, w1: Tensor, w3: Tensor | null, w2: Tensor): Tensor {
    const h = w3 ? x.matmul(w1).silu().mul(x.matmul(w3)) : x.matmul(w1).gelu({ approximate: 'tanh' });
    return h.matmul(w2);
  }
}
