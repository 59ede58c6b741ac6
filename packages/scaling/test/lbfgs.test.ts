// L-BFGS on functions with known minima.
import { describe, expect, it } from 'vitest';
import { minimizeLbfgs } from '../src/index.js';

/** The n-dimensional Rosenbrock function, minimum 0 at (1, …, 1). */
function rosenbrock(x: Float64Array, g: Float64Array): number {
  let f = 0;
  g.fill(0);
  for (let i = 0; i < x.length - 1; i++) {
    const a = x[i + 1] - x[i] * x[i];
    const b = 1 - x[i];
    f += 100 * a * a + b * b;
    g[i] += -400 * x[i] * a - 2 * b;
    g[i + 1] += 200 * a;
  }
  return f;
}

describe('minimizeLbfgs', () => {
  it('finds the minimum of the 2-D Rosenbrock function from (−1.2, 1)', () => {
    const r = minimizeLbfgs(rosenbrock, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 6);
    expect(r.x[1]).toBeCloseTo(1, 6);
    expect(r.value).toBeLessThan(1e-12);
    expect(r.iterations).toBeLessThan(100);
  });

  it('finds the minimum of the 10-D Rosenbrock function', () => {
    const r = minimizeLbfgs(
      rosenbrock,
      new Array(10).fill(0).map((_, i) => (i % 2 ? 1 : -1.2)),
    );
    expect(r.converged).toBe(true);
    for (const v of r.x) expect(v).toBeCloseTo(1, 5);
  });

  it('solves an ill-conditioned quadratic to its exact minimiser', () => {
    // f = Σ cᵢ (xᵢ − i)², conditioning 1e6.
    const c = [1, 10, 100, 1e3, 1e4, 1e5, 1e6];
    const r = minimizeLbfgs((x, g) => {
      let f = 0;
      for (let i = 0; i < x.length; i++) {
        f += c[i] * (x[i] - i) ** 2;
        g[i] = 2 * c[i] * (x[i] - i);
      }
      return f;
    }, new Array(7).fill(0));
    expect(r.converged).toBe(true);
    for (const [i, v] of r.x.entries()) expect(v).toBeCloseTo(i, 6);
  });

  it('backs off from regions where the function is undefined', () => {
    // f = x − log x is undefined for x ≤ 0; minimum at x = 1. A unit step from x = 3 lands at −∞ … beyond.
    const r = minimizeLbfgs(
      (x, g) => {
        if (x[0] <= 0) return Number.NaN;
        g[0] = 1 - 1 / x[0];
        return x[0] - Math.log(x[0]);
      },
      [0.05],
    );
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 6);
  });

  it('reports a non-finite start instead of iterating', () => {
    const r = minimizeLbfgs(() => Number.NaN, [0]);
    expect(r.converged).toBe(false);
    expect(r.reason).toBe('non-finite-start');
  });
});
