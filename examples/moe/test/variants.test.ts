// The example's comparison is what it says: the dense-active model has the MoE's active
// parameters up to the router, the dense-total one its total up to the router, and every run
// shares the trunk; the heatmap renders a panel per layer and the load CV is 0 when balanced.
import { init } from '@kiln/tensor';
import { GPT } from '@kiln/transformer';
import '@kiln/moe';
import { expect, test } from 'vitest';
import { loadCv, renderLoadHeatmapSvg } from '../src/heatmap.js';
import { overrideScale, SCALES, variants } from '../src/variants.js';

await init({ backend: 'cpu', quiet: true });

test('dense-active matches the MoE’s active parameters and dense-total its total (up to the routers)', () => {
  const runs = variants(SCALES.default, 512);
  const count = (name: string) => {
    const model = new GPT(runs.find((r) => r.name === name)!.config);
    const n = { total: model.numParameters(), active: model.activeParameters() };
    model.dispose();
    return n;
  };
  const router = SCALES.default.nLayers * SCALES.default.dModel * SCALES.default.experts;
  const moe = count('moe-aux');
  expect(count('dense-active').total).toBe(moe.active - router);
  expect(count('dense-total').total).toBe(moe.total - router);
  expect(runs.map((r) => r.name)).toEqual(['dense-active', 'dense-total', 'moe-none', 'moe-aux', 'moe-bias']);
  expect(runs.filter((r) => r.biasBalancing).map((r) => r.name)).toEqual(['moe-bias']);
});

test('with fine-grained and shared experts the twins still match (dense dFF = (k + shared)·expertDFF)', () => {
  const scale = overrideScale(SCALES.default, 'experts=16,topK=4,expertDFF=16,sharedExperts=2,routedScale=4');
  expect(scale).toMatchObject({ experts: 16, topK: 4, expertDFF: 16, sharedExperts: 2, routedScale: 4 });
  const runs = variants(scale, 512);
  const count = (name: string) => {
    const model = new GPT(runs.find((r) => r.name === name)!.config);
    const n = { total: model.numParameters(), active: model.activeParameters() };
    model.dispose();
    return n;
  };
  const router = scale.nLayers * scale.dModel * scale.experts;
  const moe = count('moe-none');
  expect(moe.total).toBeGreaterThan(moe.active);
  expect(count('dense-active').total).toBe(moe.active - router);
  expect(count('dense-total').total).toBe(moe.total - router);
});

test('--set rejects unknown fields and non-numbers, naming the field', () => {
  expect(() => overrideScale(SCALES.default, 'expert=4')).toThrow(/unknown field 'expert'/);
  expect(() => overrideScale(SCALES.default, 'topK=two')).toThrow(/topK needs a number/);
  expect(overrideScale(SCALES.default, undefined)).toEqual(SCALES.default);
});

test('heatmap: one panel per layer, one cell per expert and step', () => {
  const svg = renderLoadHeatmapSvg('t', [
    {
      layer: 'blocks.0.mlp',
      steps: [1, 2],
      load: [
        [0.5, 0.5],
        [1, 0],
      ],
    },
    {
      layer: 'blocks.1.mlp',
      steps: [1, 2],
      load: [
        [0.25, 0.75],
        [0.5, 0.5],
      ],
    },
  ]);
  expect(svg.match(/<rect x=/g)?.length).toBe(8);
  expect(svg).toContain('<title>t</title>');
  expect(svg).toContain('blocks.1.mlp');
  expect(loadCv([0.25, 0.25, 0.25, 0.25])).toBe(0);
  expect(loadCv([1, 0, 0, 0])).toBeCloseTo(Math.sqrt(3), 6);
});
