// The MoE benchmark's shapes, shared by the suite and its child process.

/** Tokens per forward (batch 8 × context 128), width, experts, top-k, expert width. */
export const MOE_BENCH = {
  tokens: 1024,
  dModel: 128,
  experts: 8,
  topK: 2,
  expertDFF: 128,
} as const;

/** What the child prints: milliseconds per timed forward+backward, per workload. */
export interface MoEBenchResult {
  device: string;
  /** workload → timed milliseconds */
  ms: Record<string, number[]>;
}
