/**
 * The metrics log format: JSON Lines, one object per line, each with an integer `step`.
 *
 * Conventional keys (used by the loss-curve plot and by `scripts/reference/gpt.py`, so runs from
 * both can be compared): `loss` (training loss), `valLoss` (validation loss), `lr`, `tokens`
 * (tokens processed so far) and `elapsedSeconds`. A record may carry any other JSON values.
 * JSON has no NaN or Infinity, so non-finite numbers are written as `null`.
 *
 * Pure functions, no Node imports; the file writer and reader are in `metrics.ts`.
 */

/** One metrics record: an integer `step` plus any JSON values. */
export interface MetricsRecord {
  step: number;
  [key: string]: unknown;
}

/** Serialises a record as one JSON line (with the trailing newline). */
export function formatMetricsLine(record: MetricsRecord): string {
  if (typeof record !== 'object' || record === null || !Number.isInteger(record.step) || record.step < 0) {
    throw new TypeError(
      `metrics: every record needs a non-negative integer 'step', got ${JSON.stringify(record?.step)}`,
    );
  }
  const line = JSON.stringify(record);
  if (line.includes('\n'))
    throw new Error('metrics: JSON.stringify produced a newline; this cannot happen for plain JSON values');
  return `${line}\n`;
}

/**
 * Parses a JSONL metrics log. Blank lines are skipped. An unparsable last line without a
 * trailing newline is a write torn by a crash and is dropped; any other bad line is an error
 * that names its line number.
 */
export function parseMetricsJsonl(text: string, source = 'metrics'): MetricsRecord[] {
  const lines = text.split('\n');
  const records: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const isTornTail = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      if (isTornTail) break;
      throw new SyntaxError(
        `${source}: line ${i + 1} is not valid JSON (${(error as Error).message}); expected one JSON object with an integer 'step' per line: ${line.slice(0, 80)}`,
      );
    }
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      !Number.isInteger((value as MetricsRecord).step)
    ) {
      throw new TypeError(
        `${source}: line ${i + 1} is not an object with an integer 'step': ${line.slice(0, 80)}`,
      );
    }
    records.push(value as MetricsRecord);
  }
  return records;
}
