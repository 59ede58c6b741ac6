// Every loss against an independent float64 reference written here in plain JavaScript (loops,
// no tensors), and its gradient against central finite differences (autograd's gradCheck, in
// float64 on the cpu backend).
import { gradCheck } from '@kiln/autograd';
import { init, type Tensor, tensor } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bradleyTerryLoss,
  dpoLoss,
  gae,
  grpoAdvantages,
  grpoLoss,
  klPenalty,
  maskedWhiten,
  ppoLosses,
  rlooAdvantages,
} from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

// ---- the reference: float64, loops ---------------------------------------------------------
const logSig = (x: number) => -Math.log1p(Math.exp(-x));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};
let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const randoms = (n: number, scale = 1) => Array.from({ length: n }, () => (random() * 2 - 1) * scale);
const near = (got: number[], want: number[], tol = 2e-5) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(Math.abs(g - want[i])).toBeLessThan(tol * Math.max(1, Math.abs(want[i])));
  });
};
const values = async (t: { data(): Promise<ArrayLike<number>> }) => Array.from(await t.data(), Number);
const check = async (f: (...xs: any[]) => Tensor, xs: Tensor[], argnums?: number[]) => {
  const result = await gradCheck(f, xs, { eps: 1e-6, atol: 1e-6, rtol: 1e-4, raise: false, argnums });
  expect(result.ok, result.message).toBe(true);
};

describe('klPenalty', () => {
  it('k1, k2, k3 match their formulas, k3 is never negative', async () => {
    const lp = randoms(12, 2);
    const ref = randoms(12, 2);
    const want = {
      k1: lp.map((l, i) => l - ref[i]),
      k2: lp.map((l, i) => 0.5 * (ref[i] - l) ** 2),
      k3: lp.map((l, i) => Math.exp(ref[i] - l) - (ref[i] - l) - 1),
    };
    for (const k of ['k1', 'k2', 'k3'] as const) {
      near(await values(klPenalty(tensor(lp), tensor(ref), k)), want[k]);
      await check((a, b) => klPenalty(a, b, k), [tensor(lp), tensor(ref)]);
    }
    expect(Math.min(...want.k3)).toBeGreaterThanOrEqual(0);
  });
  it('rejects mismatched shapes and unknown estimators', () => {
    expect(() => klPenalty(tensor([1, 2]), tensor([1]))).toThrow(/refLogp has shape \[1\]/);
    expect(() => klPenalty(tensor([1]), tensor([1]), 'k4' as 'k1')).toThrow(/'k1', 'k2' or 'k3'/);
  });
});

describe('bradleyTerryLoss', () => {
  it('matches −log σ(r_c − r_r − m) + c·(r_c + r_r)², with accuracy and margin', async () => {
    const c = randoms(9, 3);
    const r = randoms(9, 3);
    const margins = randoms(9).map(Math.abs);
    const want =
      mean(c.map((x, i) => -logSig(x - r[i] - margins[i]))) + 0.05 * mean(c.map((x, i) => (x + r[i]) ** 2));
    const out = bradleyTerryLoss(tensor(c), tensor(r), { margin: tensor(margins), centerCoefficient: 0.05 });
    near([await out.loss.item()], [want]);
    near([await out.accuracy.item()], [mean(c.map((x, i) => (x > r[i] ? 1 : 0)))]);
    near([await out.ties.item()], [0]);
    near([await out.margin.item()], [mean(c.map((x, i) => x - r[i]))]);
    await check(
      (a, b) => bradleyTerryLoss(a, b, { margin: 0.5, centerCoefficient: 0.05 }).loss,
      [tensor(c), tensor(r)],
    );
  });
  it('counts a tie as half a right ranking, and reports the ties', async () => {
    // a reward model blind to the answers gives every pair equal rewards: chance, not 0%
    const blind = bradleyTerryLoss(tensor([0.3, -1.2, 0.7, 2]), tensor([0.3, -1.2, 0.7, 2]));
    near([await blind.accuracy.item(), await blind.ties.item()], [0.5, 1]);
    // 2 right, 1 wrong, 1 tie: (2 + ½) / 4
    const mixed = bradleyTerryLoss(tensor([1, 2, 0, 5]), tensor([0, 1, 3, 5]));
    near([await mixed.accuracy.item(), await mixed.ties.item()], [2.5 / 4, 1 / 4]);
  });
  it('is exact for large reward gaps (no log of 0)', async () => {
    const out = bradleyTerryLoss(tensor([200, -200]), tensor([0, 0]));
    near([await out.loss.item()], [mean([-logSig(200), -logSig(-200)])]);
  });
});

describe('dpoLoss', () => {
  const n = 7;
  const pc = randoms(n, 4).map((x) => x - 10);
  const pr = randoms(n, 4).map((x) => x - 10);
  const rc = randoms(n, 4).map((x) => x - 10);
  const rr = randoms(n, 4).map((x) => x - 10);
  const h = pc.map((x, i) => x - rc[i] - (pr[i] - rr[i]));
  const beta = 0.3;
  const ls = 0.1;
  const cases = {
    sigmoid: mean(h.map((x) => -(1 - ls) * logSig(beta * x) - ls * logSig(-beta * x))),
    ipo: mean(h.map((x) => (x - 1 / (2 * beta)) ** 2)),
    hinge: mean(h.map((x) => Math.max(0, 1 - beta * x))),
  };
  for (const [lossType, want] of Object.entries(cases) as [keyof typeof cases, number][]) {
    it(`${lossType} matches the reference and finite differences`, async () => {
      const labelSmoothing = lossType === 'sigmoid' ? ls : 0;
      const t = [pc, pr, rc, rr].map((x) => tensor(x));
      const out = dpoLoss(t[0], t[1], t[2], t[3], { beta, lossType, labelSmoothing });
      near([await out.loss.item()], [want]);
      near(
        await values(out.chosenRewards),
        pc.map((x, i) => beta * (x - rc[i])),
      );
      near(
        await values(out.rejectedRewards),
        pr.map((x, i) => beta * (x - rr[i])),
      );
      await check((a, b, c, d) => dpoLoss(a, b, c, d, { beta, lossType, labelSmoothing }).loss, t, [0, 1]);
    });
  }
  it('gives log 2 at the reference (policy = reference)', async () => {
    const z = tensor([-3, -4]);
    const out = dpoLoss(z, z, z, z, { beta: 0.1 });
    near([await out.loss.item()], [Math.log(2)]);
  });
  it('rejects a bad beta and label smoothing with another loss', () => {
    const z = tensor([0]);
    expect(() => dpoLoss(z, z, z, z, { beta: 0 })).toThrow(/beta must be a number > 0/);
    expect(() => dpoLoss(z, z, z, z, { beta: 0.1, lossType: 'ipo', labelSmoothing: 0.1 })).toThrow(
      /sigmoid loss only/,
    );
  });
});

describe('gae', () => {
  it('matches the backward recursion over each completion, padding ignored', async () => {
    const B = 3;
    const T = 6;
    const rewards = randoms(B * T);
    const vals = randoms(B * T);
    // prompt tokens (0), completion tokens (1), right padding (0)
    const mask = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1];
    const gamma = 0.9;
    const lambda = 0.8;
    const wantA = new Array(B * T).fill(0);
    for (let b = 0; b < B; b++) {
      let next = 0;
      let nextV = 0;
      for (let t = T - 1; t >= 0; t--) {
        const i = b * T + t;
        if (!mask[i]) {
          next = 0;
          nextV = 0;
          continue;
        }
        const delta = rewards[i] + gamma * nextV - vals[i];
        next = delta + gamma * lambda * next;
        nextV = vals[i];
        wantA[i] = next;
      }
    }
    const out = gae(
      tensor(rewards, { shape: [B, T] }),
      tensor(vals, { shape: [B, T] }),
      tensor(mask, { shape: [B, T] }),
      {
        gamma,
        lambda,
      },
    );
    near(await values(out.advantages), wantA);
    near(
      await values(out.returns),
      wantA.map((a, i) => (mask[i] ? a + vals[i] : 0)),
    );
  });
  it('with γ = λ = 1 and zero values, the advantage is the reward to go', async () => {
    const out = gae(tensor([[0, 1, 2, 3]]), tensor([[0, 0, 0, 0]]), tensor([[1, 1, 1, 1]]), {
      gamma: 1,
      lambda: 1,
    });
    near(await values(out.advantages), [6, 6, 5, 3]);
  });
});

describe('ppoLosses', () => {
  it('clipped policy and value losses, clip fractions and approx KL match the reference', async () => {
    const N = 10;
    const lp = randoms(N, 0.5).map((x) => x - 2);
    const old = lp.map((x) => x + (random() - 0.5) * 0.8);
    const adv = randoms(N, 2);
    const mask = [1, 1, 0, 1, 1, 1, 0, 1, 1, 1];
    const v = randoms(N);
    const oldV = v.map((x) => x + (random() - 0.5));
    const ret = randoms(N);
    const eps = 0.2;
    const epsV = 0.1;
    const idx = mask.flatMap((m, i) => (m ? [i] : []));
    const ratio = lp.map((x, i) => Math.exp(x - old[i]));
    const pg = idx.map((i) =>
      Math.max(-adv[i] * ratio[i], -adv[i] * Math.min(Math.max(ratio[i], 1 - eps), 1 + eps)),
    );
    const clipped = idx.map((i) =>
      -adv[i] * Math.min(Math.max(ratio[i], 1 - eps), 1 + eps) > -adv[i] * ratio[i] ? 1 : 0,
    );
    const vf = idx.map((i) => {
      const vc = oldV[i] + Math.min(Math.max(v[i] - oldV[i], -epsV), epsV);
      return Math.max((v[i] - ret[i]) ** 2, (vc - ret[i]) ** 2);
    });
    const shape = { shape: [2, 5] };
    const t = (x: number[]) => tensor(x, shape);
    const out = ppoLosses(
      {
        logps: t(lp),
        oldLogps: t(old),
        advantages: t(adv),
        mask: t(mask),
        values: t(v),
        oldValues: t(oldV),
        returns: t(ret),
      },
      { clipRange: eps, clipRangeValue: epsV },
    );
    near([await out.policyLoss.item()], [mean(pg)]);
    near([await out.valueLoss!.item()], [0.5 * mean(vf)]);
    near([await out.clipFraction.item()], [mean(clipped)]);
    near([await out.approxKL.item()], [0.5 * mean(idx.map((i) => (lp[i] - old[i]) ** 2))]);
    const both = (a: Tensor, o: Tensor, ad: Tensor, m: Tensor, b: Tensor, ov: Tensor, r: Tensor) => {
      const l = ppoLosses(
        { logps: a, oldLogps: o, advantages: ad, mask: m, values: b, oldValues: ov, returns: r },
        { clipRange: eps, clipRangeValue: epsV },
      );
      return l.policyLoss.add(l.valueLoss!);
    };
    await check(both, [t(lp), t(old), t(adv), t(mask), t(v), t(oldV), t(ret)], [0, 4]);
  });
});

describe('grpoAdvantages and rlooAdvantages', () => {
  const G = 4;
  const rewards = [1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5, 2, 0, 1, 0];
  const groups = [0, 1, 2].map((g) => rewards.slice(g * G, (g + 1) * G));
  it('group, batch and none scaling match the reference; equal rewards give zero advantages', async () => {
    const group = groups.flatMap((g) => g.map((r) => (r - mean(g)) / (std(g) + 1e-4)));
    const batch = groups.flatMap((g) => g.map((r) => (r - mean(g)) / (std(rewards) + 1e-4)));
    const none = groups.flatMap((g) => g.map((r) => r - mean(g)));
    near(await values(grpoAdvantages(tensor(rewards), G)), group, 1e-4);
    near(await values(grpoAdvantages(tensor(rewards), G, { scale: 'batch' })), batch, 1e-4);
    near(await values(grpoAdvantages(tensor(rewards), G, { scale: 'none' })), none);
    expect(group.slice(4, 8)).toEqual([0, 0, 0, 0]);
  });
  it('rloo subtracts the mean of the other completions', async () => {
    const want = groups.flatMap((g) => g.map((r, i) => r - (g.reduce((a, b) => a + b, 0) - g[i]) / (G - 1)));
    near(await values(rlooAdvantages(tensor(rewards), G)), want);
  });
  it('rejects rewards that do not split into groups', () => {
    expect(() => grpoAdvantages(tensor([1, 2, 3]), 2)).toThrow(/do not split into groups of 2/);
  });
});

describe('grpoLoss', () => {
  const N = 4;
  const T = 5;
  const lp = randoms(N * T, 0.5).map((x) => x - 1);
  const old = lp.map((x) => x + (random() - 0.5) * 0.6);
  const ref = lp.map((x) => x + (random() - 0.5));
  const adv = randoms(N, 1.5);
  const mask = [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0];
  const eps = 0.2;
  const epsHigh = 0.28;
  const beta = 0.04;
  const perToken = lp.map((x, i) => {
    const a = adv[Math.floor(i / T)];
    const r = Math.exp(x - old[i]);
    const clip = Math.min(Math.max(r, 1 - eps), 1 + epsHigh);
    const k3 = Math.exp(ref[i] - x) - (ref[i] - x) - 1;
    return -Math.min(r * a, clip * a) + beta * k3;
  });
  const rows = [0, 1, 2, 3].map((b) => [0, 1, 2, 3, 4].map((t) => b * T + t).filter((i) => mask[i]));
  const tokens = mask.reduce((a, b) => a + b, 0);
  const total = perToken.reduce((a, x, i) => a + x * mask[i], 0);
  const want = {
    grpo: mean(rows.map((r) => r.reduce((a, i) => a + perToken[i], 0) / r.length)),
    dr_grpo: total / (N * 8),
    dapo: total / tokens,
  };
  const t = (x: number[]) => tensor(x, { shape: [N, T] });
  for (const [lossType, w] of Object.entries(want) as [keyof typeof want, number][]) {
    it(`${lossType} normalisation matches the reference and finite differences`, async () => {
      const options = { epsilon: eps, epsilonHigh: epsHigh, beta, lossType, maxCompletionLength: 8 };
      const out = grpoLoss(
        { logps: t(lp), oldLogps: t(old), refLogps: t(ref), advantages: tensor(adv), mask: t(mask) },
        options,
      );
      near([await out.loss.item()], [w]);
      const kl = rows.flat().map((i) => Math.exp(ref[i] - lp[i]) - (ref[i] - lp[i]) - 1);
      near([await out.kl.item()], [mean(kl)]);
      const weight = typeof out.weight === 'number' ? out.weight : await out.weight.item();
      expect(weight).toBe({ grpo: N, dr_grpo: N * 8, dapo: tokens }[lossType]);
      await check(
        (a, o, r, ad, m) =>
          grpoLoss({ logps: a, oldLogps: o, refLogps: r, advantages: ad, mask: m }, options).loss,
        [t(lp), t(old), t(ref), tensor(adv), t(mask)],
        [0],
      );
    });
  }
  it('logs the KL even when β = 0, without adding it', async () => {
    const out = grpoLoss({
      logps: t(lp),
      oldLogps: t(lp),
      refLogps: t(ref),
      advantages: tensor(adv),
      mask: t(mask),
    });
    expect(await out.kl.item()).toBeGreaterThan(0);
    const noKL = grpoLoss({ logps: t(lp), oldLogps: t(lp), advantages: tensor(adv), mask: t(mask) });
    near([await out.loss.item()], [await noKL.loss.item()]);
  });
});

describe('maskedWhiten', () => {
  it('has mean 0 and unbiased variance 1 over the masked elements', async () => {
    const x = randoms(8, 3);
    const m = [1, 1, 1, 0, 1, 1, 0, 1];
    const out = await values(maskedWhiten(tensor(x), tensor(m)));
    const sel = out.filter((_, i) => m[i]);
    near([mean(sel), std(sel)], [0, 1], 1e-4);
    expect(Math.abs(out[3])).toBe(0);
  });
});
