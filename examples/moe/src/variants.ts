// The compared models. One Llama-style trunk; only the feed-forward blocks differ:
//
//   dense-active   SwiGLU of width k·expertDFF: the MoE's active feed-forward parameters per token
//   dense-total    SwiGLU of width E·expertDFF: the MoE's total feed-forward parameters
//   moe-*          E experts of width expertDFF, top-k, dropless; balancing: none, the Switch aux
//                  loss, or DeepSeek-V3 bias balancing
import type { MoEOptions } from '@kiln/moe';
import type { GPTConfig } from '@kiln/transformer';

/** Sizes of one comparison. */
export interface Scale {
  dModel: number;
  nLayers: number;
  nHeads: number;
  contextLength: number;
  experts: number;
  topK: number;
  expertDFF: number;
}

/** The default (about 10 minutes on two cores) and `--big`. */
export const SCALES: Record<'default' | 'big', Scale> = {
  default: { dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64, experts: 8, topK: 2, expertDFF: 64 },
  big: { dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128, experts: 8, topK: 2, expertDFF: 128 },
};

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
  const { experts, topK, expertDFF } = scale;
  const moe = (balancing: MoEOptions['balancing']): GPTConfig => ({
    ...trunk,
    feedForward: { kind: 'moe', experts, topK, expertDFF, balancing: { auxLoss: 0, ...balancing } },
  });
  return [
    {
      name: 'dense-active',
      label: `dense, dFF ${topK * expertDFF} (= MoE active)`,
      config: { ...trunk, dFF: topK * expertDFF },
      biasBalancing: false,
    },
    {
      name: 'dense-total',
      label: `dense, dFF ${experts * expertDFF} (= MoE total)`,
      config: { ...trunk, dFF: experts * expertDFF },
      biasBalancing: false,
    },
    {
      name: 'moe-none',
      label: `MoE ${experts}×${expertDFF} top-${topK}, no balancing`,
      config: moe({}),
      biasBalancing: false,
    },
    {
      name: 'moe-aux',
      label: `MoE ${experts}×${expertDFF} top-${topK}, aux loss 0.01`,
      config: moe({ auxLoss: 0.01 }),
      biasBalancing: false,
    },
    {
      name: 'moe-bias',
      label: `MoE ${experts}×${expertDFF} top-${topK}, bias balancing γ 0.01`,
      config: moe({ biasUpdateRate: 0.01 }),
      biasBalancing: true,
    },
  ];
}
