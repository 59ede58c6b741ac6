// The RL curves as SVG line charts (@kiln/trainer's plots) and the per-step records as JSONL.
import { join } from 'node:path';
import { writeFileAtomic } from '@kiln/tensor/node';
import { formatMetricsLine, type MetricsRecord, renderLineChartSvg } from '@kiln/trainer';

/** Moving average over a window, for noisy per-step rewards. */
export function smooth(points: [number, number][], window = 5): [number, number][] {
  return points.map(([x], i) => {
    const part = points.slice(Math.max(0, i - window + 1), i + 1);
    return [x, part.reduce((a, p) => a + p[1], 0) / part.length];
  });
}

/** Writes `metrics.jsonl` and one SVG per named metric of `records` into `dir`. */
export async function writeCurves(
  dir: string,
  title: string,
  records: readonly MetricsRecord[],
  charts: { file: string; key: string; label: string }[],
): Promise<void> {
  await writeFileAtomic(join(dir, 'metrics.jsonl'), records.map(formatMetricsLine).join(''));
  for (const { file, key, label } of charts) {
    const raw = records
      .filter((r) => typeof r[key] === 'number' && Number.isFinite(r[key]))
      .map((r) => [r.step, r[key] as number] as [number, number]);
    const svg = renderLineChartSvg(
      [
        { name: `${label} (per step)`, points: raw, color: '#9bb7d4' },
        { name: `${label} (moving average of 5)`, points: smooth(raw), color: '#1f4e79' },
      ],
      { title: `${title}: ${label}`, xLabel: 'step', yLabel: label },
    );
    await writeFileAtomic(join(dir, file), svg);
  }
}
