// The compared models. One Llama-style trunk; only the feed-forward blocks differ:
//
//   dense-active   SwiGLU of width (k + shared)·expertDFF: the MoE's active feed-forward
//                  parameters per token (everything else is the same trunk, so the whole model's
//                  active count matches up to the router's E·dModel per layer)
//   dense-total    SwiGLU of width (E + shared)·expertDFF: the MoE's total feed-forward parameters
//   moe-*          E routed experts of width expertDFF (and `sharedExperts` always-on ones), top-k,
//                  dropless; balancing: none, the Switch aux loss, or DeepSeek-V3 bias balancing
import type { MoEOptions } from '@kiln/moe';
import type { GPTConfig } from '@kiln/transformer';

/** Sizes of one comparison and the MoE's routing choices. */
export interface Scale {
  dModel: number;
  nLayers: number;
  nHeads: number;
  contextLength: number;
  /** Routed experts E. */
  experts: number;
  /** Routed experts per token k. */
  topK: number;
  /** Width of each expert. */
  expertDFF: number;
  /** Always-on shared experts of width expertDFF (DeepSeekMoE). */
  sharedExperts: number;
  /** Multiplier of the routed gates (DeepSeek-V3's routed_scaling_factor; see MoEOptions.routedScale). */
  routedScale: number;
  /** Switch aux-loss coefficient of the `moe-aux` run. */
  auxLoss: number;
  /** Bias step γ of the `moe-bias` run. */
  biasUpdateRate: number;
}

/**
 * The default and `--big` (not measured). 32 experts: in the 200-step search 8 experts were ahead
 * of the dense twin by less than the seed spread, 32 on every seed (docs/moe.md). Gates ×k
 * (`routedScale` 2 for top-2) put the routed experts' output on the dense twin's footing; bias
 * γ 0.003 balances without the loss γ 0.01 cost on softmax scores (the search in docs/moe.md).
 */
export const SCALES: Record<'default' | 'big', Scale> = {
  default: {
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    contextLength: 64,
    experts: 32,
    topK: 2,
    expertDFF: 64,
    sharedExperts: 0,
    routedScale: 2,
    auxLoss: 0.01,
    biasUpdateRate: 0.003,
  },
  big: {
    dModel: 128,
    nLayers: 4,
    nHeads: 4,
    contextLength: 128,
    experts: 8,
    topK: 2,
    expertDFF: 128,
    sharedExperts: 0,
    routedScale: 2,
    auxLoss: 0.01,
    biasUpdateRate: 0.003,
  },
};

/** `scale` with `key=value` overrides (`experts=16,topK=4`), each a known numeric field. */
export function overrideScale(scale: Scale, overrides: string | undefined): Scale {
  const out = { ...scale };
  for (const item of (overrides ?? '').split(',').filter(Boolean)) {
    const [key, value] = item.split('=');
    if (!(key in out)) {
      throw new Error(`--set: unknown field '${key}'; the fields are ${Object.keys(out).join(', ')}`);
    }
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`--set: ${key} needs a number ≥ 0, as in ${key}=2, got '${item}'`);
    }
    out[key as keyof Scale] = n;
  }
  return out;
}

/** One run of the comparison. */
export interface Variant {
  name: string;
  /** What it shows. */
  label: string;
  config: GPTConfig;
  /** Bias balancing: call updateBalancingBias after each step. */
  biasBalancing: boolean;
}

/** The five runs at `scale` for a vocabulary of `vocabSize`. */
export function variants(scale: Scale, vocabSize: number): Variant[] {
  const trunk: GPTConfig = {
    family: 'llama',
    vocabSize,
    contextLength: scale.contextLength,
    nLayers: scale.nLayers,
    nHeads: scale.nHeads,
    dModel: scale.dModel,
  };
  const { experts, topK, expertDFF, sharedExperts, routedScale } = scale;
  const moe = (balancing: MoEOptions['balancing']): GPTConfig => ({
    ...trunk,
    feedForward: {
      kind: 'moe',
      experts,
      topK,
      expertDFF,
      ...(sharedExperts > 0 ? { sharedExperts } : {}),
      ...(routedScale !== 1 ? { routedScale } : {}),
      balancing: { auxLoss: 0, ...balancing },
    },
  });
  const shape =
    `${experts}×${expertDFF} top-${topK}` +
    (sharedExperts > 0 ? ` + ${sharedExperts} shared` : '') +
    (routedScale !== 1 ? `, gates ×${routedScale}` : '');
  return [
    {
      name: 'dense-active',
      label: `dense, dFF ${(topK + sharedExperts) * expertDFF} (= MoE active)`,
      config: { ...trunk, dFF: (topK + sharedExperts) * expertDFF },
      biasBalancing: false,
    },
    {
      name: 'dense-total',
      label: `dense, dFF ${(experts + sharedExperts) * expertDFF} (= MoE total)`,
      config: { ...trunk, dFF: (experts + sharedExperts) * expertDFF },
      biasBalancing: false,
    },
    {
      name: 'moe-none',
      label: `MoE ${shape}, no balancing`,
      config: moe({}),
      biasBalancing: false,
    },
    {
      name: 'moe-aux',
      label: `MoE ${shape}, aux loss ${scale.auxLoss}`,
      config: moe({ auxLoss: scale.auxLoss }),
      biasBalancing: false,
    },
    {
      name: 'moe-bias',
      label: `MoE ${shape}, bias balancing γ ${scale.biasUpdateRate}`,
      config: moe({ biasUpdateRate: scale.biasUpdateRate }),
      biasBalancing: true,
    },
  ];
}
