// Summaries of metrics logs (Kiln's metrics.jsonl and gpt.py's, which share the format).
import type { MetricsRecord } from '@kiln/trainer';

/** Validation loss by step. */
export function valLosses(records: MetricsRecord[]): Map<number, number> {
  return new Map(
    records.filter((r) => typeof r.valLoss === 'number').map((r) => [r.step, r.valLoss as number]),
  );
}

/**
 * Median training throughput of a run: Kiln records `tokensPerSecond` (evaluation excluded);
 * for gpt.py it is computed between consecutive log records, skipping intervals that contain
 * an evaluation (gpt.py evaluates at step s just before training step s + 1).
 */
export function tokensPerSecond(records: MetricsRecord[]): number {
  const rows = records.filter((r) => typeof r.loss === 'number' && typeof r.elapsedSeconds === 'number');
  const evalSteps = [...valLosses(records).keys()];
  const rates: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]];
    if (typeof b.tokensPerSecond === 'number') {
      rates.push(b.tokensPerSecond);
      continue;
    }
    if (evalSteps.some((s) => a.step <= s && s < b.step)) continue;
    const dt = (b.elapsedSeconds as number) - (a.elapsedSeconds as number);
    if (dt > 0) rates.push(((b.tokens as number) - (a.tokens as number)) / dt);
  }
  rates.sort((x, y) => x - y);
  return rates.length === 0 ? Number.NaN : rates[Math.floor(rates.length / 2)];
}

/** Training loss by step. */
export function trainLosses(records: MetricsRecord[]): Map<number, number> {
  return new Map(records.filter((r) => typeof r.loss === 'number').map((r) => [r.step, r.loss as number]));
}
