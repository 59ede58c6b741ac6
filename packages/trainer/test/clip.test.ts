// Gradient norm and clipping against torch.nn.utils.clip_grad_norm_ (fixtures/optimizer-golden.json).
import { readFileSync } from 'node:fs';
import { Parameter } from '@kiln/autograd';
import { init, tensor, zeros } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipGradNorm, gradNorm } from '../src/index.js';

const golden = JSON.parse(
  readFileSync(new URL('./fixtures/optimizer-golden.json', import.meta.url), 'utf8'),
) as {
  clip: { maxNorm: number; shapes: number[][]; grads: number[][]; norm: number; clipped: number[][] }[];
};

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('clipGradNorm', () => {
  for (const c of golden.clip) {
    it(`matches clip_grad_norm_ with maxNorm ${c.maxNorm} (norm ${c.norm.toFixed(3)})`, async () => {
      const params = c.shapes.map((shape, i) => {
        const p = new Parameter(zeros(shape));
        p.grad = tensor(c.grads[i], { shape });
        return p;
      });
      const norm = clipGradNorm(params, c.maxNorm);
      expect(await norm.item()).toBeCloseTo(c.norm, 5);
      for (let i = 0; i < params.length; i++) {
        const got = Array.from(await params[i].grad!.data());
        for (let j = 0; j < got.length; j++) expect(got[j]).toBeCloseTo(c.clipped[i][j], 5);
      }
      norm.dispose();
    });
  }

  it('measures 0 when no parameter has a gradient, and rejects a bad maxNorm', async () => {
    const p = new Parameter(zeros([3]));
    const norm = gradNorm([p]);
    expect(await norm.item()).toBe(0);
    expect(() => clipGradNorm([p], 0)).toThrow(/maxNorm must be a positive finite number/);
  });

  it('turns a NaN gradient into a NaN norm (which the trainer reports)', async () => {
    const p = new Parameter(zeros([2]));
    p.grad = tensor([Number.NaN, 1]);
    expect(await clipGradNorm([p], 1).item()).toBeNaN();
  });
});
