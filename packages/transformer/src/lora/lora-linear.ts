/**
 * The LoRA layer: a `Linear` whose frozen weight is corrected by low-rank adapters,
 * `y = act(x Wᵀ + b + s · (x Aᵀ) Bᵀ)` (Hu et al. 2021). The correction is two thin products
 * per adapter, never a materialised `W + s·BA`, so a step costs the base product plus
 * `r·(in + out)` multiply-adds per token and adapter, and the optimizer sees only `A` and `B`.
 */
import { Module, Parameter } from '@kiln/autograd';
import { concat, type MatmulActivation, rand, scope, type Tensor, zeros } from '@kiln/tensor';
import { Dropout } from '../layers/dropout.js';
import type { LayerOptions } from '../layers/init.js';
import { Linear } from '../layers/linear.js';

/** Options of one {@link LoRAAdapter}. */
export interface LoRAAdapterOptions {
  /** Rank r (the inner width of the two thin products). */
  rank: number;
  /** Multiplies the adapter's output (α/r, or α/√r with rsLoRA). */
  scale: number;
  /** Dropout probability on the adapter's input in training mode (default 0). */
  dropout?: number;
}

/**
 * One low-rank adapter over output rows `[rows[0], rows[1])` of a linear layer: `A [r, in]`
 * (Kaiming-uniform, as peft: bound 1/√in) and `B [rows, r]` (zeros, so a fresh adapter changes
 * nothing). Its contribution is `s · dropout(x) Aᵀ Bᵀ`.
 */
export class LoRAAdapter extends Module {
  /** `[rank, inFeatures]`: peft's `lora_A.weight`. */
  A: Parameter;
  /** `[rows, rank]`: peft's `lora_B.weight`. */
  B: Parameter;
  /** Dropout on the adapter's input (its own mask, as peft's separate modules have). */
  dropout: Dropout;
  /** α/r, or α/√r with rsLoRA. */
  readonly scale: number;
  readonly rank: number;

  constructor(
    readonly inFeatures: number,
    /** The output rows of the base layer this adapter corrects, `[start, end)`. */
    readonly rows: readonly [number, number],
    options: LoRAAdapterOptions & LayerOptions,
  ) {
    super();
    const { rank, scale, backend } = options;
    // kaiming_uniform_(a=√5) on a [r, in] weight: gain √(2/(1+5)) = 1/√3, bound gain·√(3/in) = 1/√in
    const bound = 1 / Math.sqrt(inFeatures);
    this.A = new Parameter(
      rand([rank, inFeatures], { low: -bound, high: bound, backend, usage: 'parameter' }),
    );
    this.B = new Parameter(zeros([rows[1] - rows[0], rank], { backend, usage: 'parameter' }));
    this.dropout = new Dropout(options.dropout ?? 0);
    this.scale = scale;
    this.rank = rank;
  }

  /** `s · dropout(x) Aᵀ Bᵀ`, `[..., rows]`; the scale is applied on the r-wide middle. */
  forward(x: Tensor): Tensor {
    return scope(() => this.dropout.forward(x).matmul(this.A.T).mul(this.scale).matmul(this.B.T));
  }
}

/** A container whose properties are the adapters of one layer, keyed by target name (`q`, `fc`, …). */
export class LoRAAdapters extends Module {
  [target: string]: unknown;
}

/** `x` through `activation` with the public unary ops (the epilogue's activations). */
function activate(x: Tensor, activation: MatmulActivation): Tensor {
  switch (activation) {
    case 'none':
      return x;
    case 'relu':
      return x.relu();
    case 'gelu':
      return x.gelu();
    case 'geluTanh':
      return x.gelu({ approximate: 'tanh' });
    case 'silu':
      return x.silu();
  }
}

/**
 * A `Linear` with LoRA adapters on some of its output row blocks: the whole layer (GPT-2's
 * `c_attn`, an MLP projection) or, for Llama's fused q/k/v projection, the rows of `q_proj`,
 * `k_proj` and/or `v_proj` each with its own adapter, as peft puts one on each of those modules.
 *
 * It shares the base layer's `weight` and `bias` parameters (same names, so `stateDict`, the
 * Hugging Face bindings and checkpoints of the base keep working) and adds
 * `lora.<target>.{A,B}`. The base product keeps its fused bias epilogue; the adapters' delta is
 * added to it before the activation, which then runs as its own op: an activation must see
 * `x Wᵀ + b + delta`, and the epilogue has no addend input.
 */
export class LoRALinear extends Linear {
  /** The adapters, by target name (`lora.q`, `lora.fc`, …). */
  lora: LoRAAdapters;
  /**
   * When true the layer computes the base layer alone (the adapters are skipped, not removed):
   * the frozen reference of DPO/PPO/GRPO without a second copy of the model. Set it through
   * `withAdaptersDisabled`.
   */
  adaptersDisabled = false;

  constructor(base: Linear, adapters: ReadonlyMap<string, LoRAAdapter>) {
    super(base.inFeatures, base.outFeatures, { weight: base.weight, bias: false });
    this.bias = base.bias;
    this.lora = new LoRAAdapters();
    const sorted = [...adapters].sort((a, b) => a[1].rows[0] - b[1].rows[0]);
    let end = 0;
    for (const [target, adapter] of sorted) {
      const [r0, r1] = adapter.rows;
      if (r0 < end || r1 > base.outFeatures || r1 <= r0 || adapter.inFeatures !== base.inFeatures) {
        throw new RangeError(
          `LoRALinear: adapter '${target}' (rows ${r0}…${r1}, in ${adapter.inFeatures}) does not fit a [${base.outFeatures}, ${base.inFeatures}] layer beside the others`,
        );
      }
      end = r1;
      this.lora[target] = adapter;
    }
    this.training = base.training;
  }

  /** The adapters in output-row order, with their target names. */
  adapters(): [string, LoRAAdapter][] {
    return Object.entries(this.lora)
      .filter((e): e is [string, LoRAAdapter] => e[1] instanceof LoRAAdapter)
      .sort((a, b) => a[1].rows[0] - b[1].rows[0]);
  }

  /** `x [..., in]` → `activation(x Wᵀ + b + Σ adapters)` `[..., out]` (the base alone while `adaptersDisabled`). */
  override forward(x: Tensor, activation: MatmulActivation = 'none'): Tensor {
    if (this.adaptersDisabled) return super.forward(x, activation);
    return scope(() => {
      const base = super.forward(x); // x Wᵀ + b, the bias fused into the product's store
      const adapters = this.adapters();
      let pre: Tensor;
      if (
        adapters.length === 1 &&
        adapters[0][1].rows[0] === 0 &&
        adapters[0][1].rows[1] === this.outFeatures
      ) {
        pre = base.add(adapters[0][1].forward(x));
      } else {
        // rows without an adapter pass through; adapted row blocks get their delta
        const parts: Tensor[] = [];
        let at = 0;
        for (const [, adapter] of adapters) {
          const [r0, r1] = adapter.rows;
          if (r0 > at) parts.push(base.slice(-1, at, r0));
          parts.push(base.slice(-1, r0, r1).add(adapter.forward(x)));
          at = r1;
        }
        if (at < this.outFeatures) parts.push(base.slice(-1, at, this.outFeatures));
        pre = concat(parts, -1);
      }
      return activate(pre, activation);
    });
  }
}
