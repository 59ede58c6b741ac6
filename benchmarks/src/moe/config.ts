// The MoE benchmark's shapes, shared by the suite and its child process.

/** An optional positive integer from the environment. */
function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return v;
}

/**
 * Tokens per forward (batch 8 × context 128), width, experts, top-k, expert width. The defaults
 * are the measured ones of docs/moe.md; BENCH_MOE_TOKENS, BENCH_MOE_DMODEL, BENCH_MOE_EXPERTS,
 * BENCH_MOE_TOPK and BENCH_MOE_DFF change them (the dense reference keeps width topK·expertDFF).
 */
export const MOE_BENCH = {
  tokens: envInt('BENCH_MOE_TOKENS', 1024),
  dModel: envInt('BENCH_MOE_DMODEL', 128),
  experts: envInt('BENCH_MOE_EXPERTS', 8),
  topK: envInt('BENCH_MOE_TOPK', 2),
  expertDFF: envInt('BENCH_MOE_DFF', 128),
} as const;

/** What the child prints: milliseconds per timed forward+backward, per workload. */
export interface MoEBenchResult {
  device: string;
  /** workload → timed milliseconds */
  ms: Record<string, number[]>;
}
