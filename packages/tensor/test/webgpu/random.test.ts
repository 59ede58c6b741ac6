/**
 * The counter-based generator on webgpu vs cpu: uniform [0, 1) draws and randint are
 * bit-identical for the same seed (including a counter crossing 2^32, which carries into the
 * high word); other uniform ranges are one float32 rounding (rtol 1e-6); normals differ only by
 * float32 log/cos in Box-Muller (atol 1e-5).
 */
import { type Backend, manualSeed, rand, randint, randn, setRngState, type Tensor } from '@kiln/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { compare, cpu, gpu, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);

/** Runs `draw` after seeding, on both backends, and compares. */
async function sameDraws(draw: (be: Backend) => Tensor, tol = {}, counter?: number): Promise<void> {
  const seeded = (be: Backend) => {
    if (counter === undefined) manualSeed(1234);
    else setRngState({ seed: [0xdeadbeef, 7], counter });
    return draw(be);
  };
  await compare(seeded, tol);
}

describe.skipIf(!!skipReason)(suiteName('webgpu random vs cpu'), () => {
  it('rand in [0, 1) is bit-identical, also across the 2^32 counter boundary', async () => {
    await sameDraws((be) => rand([1000], { backend: be }));
    await sameDraws((be) => rand([7, 33], { backend: be }), {}, 2 ** 32 - 100);
    await sameDraws((be) => rand([3, 5], { backend: be }), {}, 5 * 2 ** 32 + 17);
  });

  it('randint is bit-identical for int32 and uint32, negative lows and the full 2^32 range', async () => {
    await sameDraws((be) => randint(-5, 17, [1000], { backend: be }));
    await sameDraws((be) => randint(0, 3, [257], { backend: be, dtype: 'uint32' }));
    await sameDraws((be) => randint(-(2 ** 31), 2 ** 31, [100], { backend: be }));
    await sameDraws((be) => randint(0, 2 ** 32, [100], { backend: be, dtype: 'uint32' }), {}, 2 ** 32 - 50);
  });

  it('rand with other ranges is within one float32 rounding; float16 within half an ulp', async () => {
    await sameDraws((be) => rand([1000], { backend: be, low: -3, high: 5 }), { rtol: 1e-6, atol: 1e-6 });
    await sameDraws((be) => rand([257], { backend: be, low: 0.1, high: 0.2 }), { rtol: 1e-6 });
    await sameDraws((be) => rand([257], { backend: be, dtype: 'float16' }), { rtol: 1e-3 });
  });

  it('randn is close (float32 Box-Muller) and has the right moments', async () => {
    await sameDraws((be) => randn([1000], { backend: be }), { rtol: 1e-5, atol: 1e-5 });
    await sameDraws((be) => randn([7, 33], { backend: be, mean: 3, std: 0.5 }), { rtol: 1e-5, atol: 1e-5 });
    manualSeed(7);
    const x = randn([20000], { backend: gpu });
    const d = await x.data();
    x.dispose();
    let s = 0;
    let s2 = 0;
    for (const v of d) {
      s += v;
      s2 += v * v;
    }
    const mean = s / d.length;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(d.length));
    expect(Math.abs(s2 / d.length - mean * mean - 1)).toBeLessThan(0.05);
    void cpu;
  });
});
