/**
 * The Chinchilla Figure 4 runs as Epoch AI extracted them (see `data/README.md`): parsing the
 * CSV into {@link LossPoint}s with D = C / (6·N).
 */
import type { LossPoint } from './fit.js';

/** A run of the CSV: N, D, loss and its compute C. */
export interface ChinchillaPoint extends LossPoint {
  /** Training FLOPs as read off the figure. */
  C: number;
}

/** Splits one CSV line on commas (the file has no quoted fields). */
function cells(line: string): string[] {
  return line.split(',').map((c) => c.trim());
}

/**
 * Parses `chinchilla-fig4-points.csv` (columns `Model Size`, `Training FLOP`, `loss`, in any
 * order); throws naming the line of a malformed row.
 */
export function parseChinchillaCsv(text: string): ChinchillaPoint[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error('parseChinchillaCsv: expected a header line and at least one row');
  const header = cells(lines[0]);
  const column = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`parseChinchillaCsv: no '${name}' column; the header is ${lines[0]}`);
    return i;
  };
  const [n, c, l] = [column('Model Size'), column('Training FLOP'), column('loss')];
  return lines.slice(1).map((line, i) => {
    const row = cells(line);
    const [N, C, loss] = [Number(row[n]), Number(row[c]), Number(row[l])];
    if (![N, C, loss].every((v) => Number.isFinite(v) && v > 0)) {
      throw new Error(`parseChinchillaCsv: line ${i + 2} has a non-positive or missing value: ${line}`);
    }
    return { N, D: C / (6 * N), loss, C };
  });
}
