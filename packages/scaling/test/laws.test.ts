// Laws: values against hand arithmetic, the closed-form optimum against a brute-force search.
import { describe, expect, it } from 'vitest';
import {
  CHINCHILLA_2022,
  computeOptimal,
  DEFAULT_LAW,
  EPOCH_2024,
  isoFlopCurve,
  isoLossCurve,
  KAPLAN_2020,
  lossAt,
  optimalExponents,
  PF_DAY,
} from '../src/index.js';

describe('lossAt', () => {
  it('evaluates each form by its formula', () => {
    expect(lossAt(CHINCHILLA_2022, 70e9, 1.4e12)).toBeCloseTo(
      1.69 + 406.4 / 70e9 ** 0.34 + 410.7 / 1.4e12 ** 0.28,
      12,
    );
    const k = KAPLAN_2020;
    expect(lossAt(k, 1e9, 1e11)).toBeCloseTo(
      ((8.8e13 / 1e9) ** (0.076 / 0.095) + 5.4e13 / 1e11) ** 0.095,
      12,
    );
    expect(DEFAULT_LAW).toBe(EPOCH_2024);
  });
});

describe('computeOptimal', () => {
  for (const law of [CHINCHILLA_2022, EPOCH_2024]) {
    it(`${law.name}: the closed form is the minimum of L(N, C/6N) found by search`, () => {
      for (const C of [1e18, 5.76e23, 1e26]) {
        const o = computeOptimal(C, law);
        let bestN = 0;
        let bestLoss = Number.POSITIVE_INFINITY;
        for (let logN = 6; logN <= 14; logN += 1e-4) {
          const N = 10 ** logN;
          const l = lossAt(law, N, C / (6 * N));
          if (l < bestLoss) [bestLoss, bestN] = [l, N];
        }
        expect(Math.abs(Math.log10(o.N / bestN))).toBeLessThan(2e-4);
        expect(o.loss).toBeLessThanOrEqual(bestLoss + 1e-12);
        expect(6 * o.N * o.D).toBeCloseTo(C, -Math.floor(Math.log10(C)) + 10);
        expect(o.tokensPerParameter).toBeCloseTo(o.D / o.N, 9);
      }
    });
  }

  it("gives the published allocations' shape: Epoch ≈ equal exponents, Chinchilla-as-published tilted to N", () => {
    expect(optimalExponents(EPOCH_2024).a).toBeCloseTo(0.3658 / (0.3478 + 0.3658), 12); // 0.513
    expect(optimalExponents(CHINCHILLA_2022).a).toBeCloseTo(0.28 / 0.62, 12); // 0.452
    // At Chinchilla's budget (5.76e23 FLOPs) the Epoch law wants ~18 tokens per parameter (Chinchilla used 20).
    const o = computeOptimal(5.76e23, EPOCH_2024);
    expect(o.tokensPerParameter).toBeGreaterThan(15);
    expect(o.tokensPerParameter).toBeLessThan(25);
  });

  it("Kaplan's allocation is the paper's N_opt = 1.3e9 · (C / PF-day)^0.73", () => {
    const C = 10 * PF_DAY;
    expect(computeOptimal(C, KAPLAN_2020).N).toBeCloseTo(1.3e9 * 10 ** 0.73, -2);
  });

  it('refuses a law without an optimum and bad budgets', () => {
    expect(() => computeOptimal(1e20, { ...EPOCH_2024, beta: -0.1 })).toThrow(/A, B, α, β > 0/);
    expect(() => computeOptimal(-1)).toThrow(/C must be a positive/);
  });
});

describe('curves', () => {
  it('isoFLOP points spend the budget; iso-loss points reach the loss', () => {
    const iso = isoFlopCurve(1e21, EPOCH_2024, { minN: 1e7, maxN: 1e11, points: 9 });
    expect(iso).toHaveLength(9);
    for (const p of iso) expect(6 * p.N * p.D).toBeCloseTo(1e21, -12);
    // The U: the optimum's loss is below both ends.
    const opt = computeOptimal(1e21, EPOCH_2024).loss;
    expect(opt).toBeLessThan(iso[0].loss);
    expect(opt).toBeLessThan(iso[8].loss);
    for (const law of [EPOCH_2024, KAPLAN_2020]) {
      const curve = isoLossCurve(2.5, law, { minN: 1e8, maxN: 1e12, points: 20 });
      expect(curve.length).toBeGreaterThan(5);
      for (const p of curve) expect(lossAt(law, p.N, p.D)).toBeCloseTo(2.5, 9);
    }
    // Below E no (N, D) reaches the loss.
    expect(isoLossCurve(1.5, EPOCH_2024, { minN: 1e8, maxN: 1e12 })).toEqual([]);
  });
});
