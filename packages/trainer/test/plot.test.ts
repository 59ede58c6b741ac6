import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lossSeriesFromMetrics,
  MetricsWriter,
  type PlotSeries,
  renderLineChartSvg,
  renderLossCurveSvg,
  writeLossCurve,
  writeLossCurveFromMetrics,
} from '../src/node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-plot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Checks that every element is closed in order (a small well-formedness check without an XML parser). */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const [, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
}

const train: PlotSeries = {
  name: 'train',
  points: Array.from({ length: 200 }, (_, i) => [i + 1, 5 * Math.exp(-i / 60) + 1.5]),
};
const validation: PlotSeries = {
  name: 'validation',
  points: [0, 50, 100, 150, 200].map((s) => [s, 5 * Math.exp(-s / 60) + 1.7]),
};

describe('renderLossCurveSvg', () => {
  it('draws both series, axes with ticks and labels, and a legend', () => {
    const svg = renderLossCurveSvg([train, validation], { title: 'tiny run' });
    expectWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="720" height="440"')).toBe(true);
    expect(svg.match(/<path /g)!.length).toBe(2);
    expect(svg).toContain('>train</text>');
    expect(svg).toContain('>validation</text>');
    expect(svg).toContain('>step</text>');
    expect(svg).toContain('>loss</text>');
    expect(svg).toContain('>tiny run</text>');
    for (const tick of ['0', '50', '100', '150', '200']) expect(svg).toContain(`>${tick}</text>`);
    expect(svg.match(/<circle /g)!.length).toBe(5); // markers only on the short validation series
    expect(renderLossCurveSvg([train, validation], { title: 'tiny run' })).toBe(svg); // deterministic
  });

  it('supports a log-scale loss axis with ticks inside a short range', () => {
    const svg = renderLossCurveSvg([train], { logScale: true });
    expectWellFormed(svg);
    expect(svg).toContain('loss (log scale)');
    expect(svg).toMatch(/>2<\/text>/);
    expect(svg).toMatch(/>5<\/text>/);
  });

  it('breaks lines at NaN and non-positive values on log axes, and escapes text', () => {
    const svg = renderLossCurveSvg(
      [
        {
          name: 'a < b & "c"',
          points: [
            [1, 3],
            [2, Number.NaN],
            [3, 2],
            [4, 0],
            [5, 1],
          ],
        },
      ],
      { logScale: true, title: '<script>' },
    );
    expectWellFormed(svg);
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot;');
    expect(svg).not.toContain('<script>');
    const d = /<path d="([^"]+)"/.exec(svg)![1];
    expect(d.match(/M/g)!.length).toBe(3);
  });

  it('renders an empty chart for no data', () => {
    const svg = renderLossCurveSvg([]);
    expectWellFormed(svg);
    expect(svg).toContain('no data yet');
  });
});

describe('renderLineChartSvg for other plots', () => {
  it('draws log-log scaling curves with compact tick labels', () => {
    const compute = [1e15, 1e16, 1e17, 1e18, 1e19];
    const svg = renderLineChartSvg(
      [
        { name: 'measured', points: compute.map((c) => [c, 10 * c ** -0.05]) },
        { name: 'fit', points: compute.map((c) => [c, 10.2 * c ** -0.05]), dashed: true, color: '#999' },
      ],
      { xScale: 'log', yScale: 'log', xLabel: 'compute (FLOPs)', yLabel: 'loss' },
    );
    expectWellFormed(svg);
    expect(svg).toContain('stroke-dasharray="6 4"');
    for (const tick of ['1e15', '1e16', '1e17', '1e18', '1e19']) expect(svg).toContain(`>${tick}</text>`);
    expect(svg).toContain('compute (FLOPs)');
  });

  it('draws a series with line: false as a scatter of markers only', () => {
    const scatter: PlotSeries = {
      name: 'runs',
      points: [
        [1, 2],
        [2, 3],
        [3, 1],
      ],
      line: false,
    };
    const line: PlotSeries = {
      name: 'fit',
      points: [
        [1, 1],
        [3, 3],
      ],
      markers: false,
    };
    const svg = renderLineChartSvg([scatter, line]);
    expectWellFormed(svg);
    expect(svg.match(/<path /g)!.length).toBe(1); // only the fit is a line
    // three data markers plus the scatter's legend marker
    expect(svg.match(/<circle /g)!.length).toBe(4);
  });

  it('rejects invalid options clearly', () => {
    expect(() => renderLineChartSvg([{ name: 'x', points: [] }], { yRange: [2, 1] })).toThrow(
      /yRange must be \[min, max\] with min < max, got \[2, 1\]/,
    );
    expect(() => renderLineChartSvg([], { xScale: 'log', xRange: [0, 10] })).toThrow(/min > 0 on a log axis/);
    expect(() => renderLineChartSvg([{ name: 'x' } as never])).toThrow(
      /series 0 must be \{ name: string, points: \[x, y\]\[\] \}/,
    );
    expect(() => renderLineChartSvg([], { width: 10 })).toThrow(/at least 200×150/);
  });
});

describe('loss curve files', () => {
  it('builds series from metrics records', () => {
    const series = lossSeriesFromMetrics([
      { step: 0, valLoss: 5 },
      { step: 1, loss: 4.9 },
      { step: 2, loss: null },
      { step: 2, loss: 4.5, valLoss: 4.6 },
    ]);
    expect(series).toEqual([
      {
        name: 'train',
        points: [
          [1, 4.9],
          [2, 4.5],
        ],
      },
      {
        name: 'validation',
        points: [
          [0, 5],
          [2, 4.6],
        ],
        markers: true,
      },
    ]);
    expect(lossSeriesFromMetrics([{ step: 1, loss: 2 }], 'kiln ')[0].name).toBe('kiln train');
  });

  it('writes the SVG beside the metrics log', async () => {
    const metricsPath = join(dir, 'metrics.jsonl');
    await using writer = await MetricsWriter.open(metricsPath);
    for (let step = 1; step <= 20; step++)
      await writer.write({ step, loss: 4 / step, ...(step % 5 === 0 ? { valLoss: 4.2 / step } : {}) });
    const svgPath = await writeLossCurveFromMetrics(metricsPath);
    expect(svgPath).toBe(join(dir, 'loss.svg'));
    const svg = await readFile(svgPath, 'utf8');
    expectWellFormed(svg);
    expect(svg.match(/<path /g)!.length).toBe(2);
    await writeLossCurve(join(dir, 'other.svg'), [train], { logScale: true });
    expect(await readFile(join(dir, 'other.svg'), 'utf8')).toContain('loss (log scale)');
  });
});
