/** Writing loss-curve SVGs next to metrics logs (Node only). Rendering is in `plot.ts`. */
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '@kiln/tensor/node';
import { readMetrics } from './metrics.js';
import { type LossCurveOptions, lossSeriesFromMetrics, type PlotSeries, renderLossCurveSvg } from './plot.js';

/** Renders `series` as a loss-curve SVG and writes it to `path` atomically (viewers never see half a file). */
export async function writeLossCurve(
  path: string,
  series: readonly PlotSeries[],
  options: LossCurveOptions = {},
): Promise<void> {
  await writeFileAtomic(path, renderLossCurveSvg(series, options));
}

/**
 * Reads a JSONL metrics log and writes its train/validation loss curve beside it (by default
 * `loss.svg` in the same directory). Returns the SVG's path.
 */
export async function writeLossCurveFromMetrics(
  metricsPath: string,
  options: LossCurveOptions & { svgPath?: string } = {},
): Promise<string> {
  const { svgPath = join(dirname(metricsPath), 'loss.svg'), ...chart } = options;
  await writeLossCurve(svgPath, lossSeriesFromMetrics(await readMetrics(metricsPath)), chart);
  return svgPath;
}
