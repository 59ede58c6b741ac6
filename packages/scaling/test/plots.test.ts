// The SVG plots: well-formed, and drawing what they are given.
import { describe, expect, it } from 'vitest';
import {
  EPOCH_2024,
  renderComputeSizePlaneSvg,
  renderFrontierSvg,
  renderIsoFlopSvg,
  renderLossVsComputeSvg,
} from '../src/index.js';

function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const [, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

const runs = [1e20, 1e21].flatMap((C) =>
  [1e8, 3e8, 1e9].map((N) => ({ C, N, D: C / (6 * N), loss: 2.5 + 1e8 / N / 10 + 1e19 / C })),
);

describe('plots', () => {
  it('isoFLOP: one measured and one fitted series per budget', () => {
    const svg = renderIsoFlopSvg(runs, EPOCH_2024);
    expectWellFormed(svg);
    expect(svg).toContain('C = 1e20');
    expect(svg).toContain('fit, C = 1e21');
    expect(svg.match(/stroke-dasharray/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('frontier, loss against compute and the (C, N) plane', () => {
    for (const svg of [
      renderFrontierSvg({
        laws: [{ name: 'Epoch', law: EPOCH_2024 }],
        measured: [{ C: 1e20, N: 3e8 }],
        marks: [{ name: 'verify', C: 1e22, N: 2e9 }],
      }),
      renderLossVsComputeSvg({
        runs,
        law: EPOCH_2024,
        prediction: { C: 1e22, predicted: 2.6, measured: 2.62 },
      }),
      renderComputeSizePlaneSvg(runs, [{ name: 'Epoch', law: EPOCH_2024 }], { contours: [2.6, 3] }),
    ]) {
      expectWellFormed(svg);
      expect(svg).toContain('<circle');
    }
  });
});
