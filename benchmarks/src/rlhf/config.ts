// The rlhf suite's shared settings: the model (the examples' size) and what a child reports.

/** The examples' GPT: GPT-2 family, 2 layers, 2 heads, d 64, context 32, vocab 512. */
export const RLHF_MODEL = { vocabSize: 512, contextLength: 32, nLayers: 2, nHeads: 2, dModel: 64 } as const;

/** What grpo-step.ts prints: per timed step. */
export interface GRPOBenchResult {
  stepMs: number[];
  generationMs: number[];
  optimisationMs: number[];
  rolloutTokensPerSecond: number[];
  device: string;
}
