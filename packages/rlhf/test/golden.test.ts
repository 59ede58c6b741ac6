// Golden parity with PyTorch: test/fixtures/rlhf_losses.json holds inputs, outputs and
// gradients of every loss, computed in float64 by scripts/reference/rlhf_losses.py from the
// published formulas (written there independently of this package). Here each case runs through
// Kiln's function, gradients through @kiln/autograd's valueAndGrad, on cpu and, when an adapter
// exists, on webgpu (KILN_RLHF_WEBGPU=0 skips it).
//
// Tolerances, per element: |kiln − torch| ≤ atol + rtol·|torch|
// - cpu (float32 storage, float64 arithmetic inside each kernel): atol 1e-5, rtol 1e-4
// - webgpu (float32 arithmetic, other summation orders): atol 1e-4, rtol 1e-3
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { valueAndGrad } from '@kiln/autograd';
import { type Backend, init, initBackend, scope, type Tensor, tensor } from '@kiln/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bradleyTerryLoss,
  dpoLoss,
  gae,
  grpoAdvantages,
  klPenalty,
  ppoLosses,
  rlooAdvantages,
} from '../src/index.js';

interface Encoded {
  shape: number[];
  data: number[];
}
interface Case {
  fn: string;
  name: string;
  inputs: Record<string, Encoded>;
  data: Record<string, Encoded>;
  options: Record<string, any>;
  outputs: Record<string, Encoded>;
  /** Per differentiated output: d output / d each input. */
  grads: Record<string, Record<string, Encoded>>;
}
type Tensors = Record<string, Tensor>;

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'rlhf_losses.json'), 'utf8'),
) as { cases: Case[] };

/**
 * Each function's Kiln call: the differentiable inputs `p`, the constant data `d` and the
 * case's options → every output the fixture has, by name (0-d or same-shape tensors).
 */
const run: Record<string, (p: Tensors, d: Tensors, o: Record<string, any>) => Tensors> = {
  bradleyTerryLoss: (p, d, o) => {
    const out = bradleyTerryLoss(p.chosenRewards, p.rejectedRewards, {
      margin: d.margin ?? o.margin,
      centerCoefficient: o.centerCoefficient,
    });
    return { loss: out.loss, accuracy: out.accuracy, margin: out.margin };
  },
  dpoLoss: (p, _d, o) => {
    const out = dpoLoss(p.policyChosenLogps, p.policyRejectedLogps, p.refChosenLogps, p.refRejectedLogps, {
      beta: o.beta,
      lossType: o.lossType,
      labelSmoothing: o.labelSmoothing,
    });
    return { loss: out.loss, chosenRewards: out.chosenRewards, rejectedRewards: out.rejectedRewards };
  },
  klPenalty: (p, d, o) => {
    const kl = klPenalty(p.logp, p.refLogp, o.estimator);
    return { kl, weighted: kl.mul(d.cotangent).sum() };
  },
  gae: (p, d, o) =>
    gae(p.rewards, p.values, d.mask, { gamma: o.gamma, lambda: o.lambda }) as unknown as Tensors,
  ppoLosses: (p, d, o) => {
    const out = ppoLosses(
      {
        logps: p.logps,
        values: p.values,
        oldLogps: d.oldLogps,
        advantages: d.advantages,
        oldValues: d.oldValues,
        returns: d.returns,
        entropy: d.entropy,
        mask: d.mask,
      },
      { clipRange: o.clipRange, clipRangeValue: o.clipRangeValue },
    );
    return out as unknown as Tensors;
  },
  grpoAdvantages: (_p, d, o) => ({
    advantages: grpoAdvantages(d.rewards, o.groupSize, { scale: o.scale }),
  }),
  rlooAdvantages: (_p, d, o) => ({ advantages: rlooAdvantages(d.rewards, o.groupSize) }),
};

function upload(map: Record<string, Encoded>, backend: Backend): Tensors {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [k, tensor(Float32Array.from(v.data), { shape: v.shape, backend })]),
  );
}

/** The element furthest outside the tolerance (excess ≤ 0: every element within it). */
function worst(got: ArrayLike<number>, want: number[], atol: number, rtol: number) {
  let result = { excess: Number.NEGATIVE_INFINITY, at: -1, got: 0, want: 0 };
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(excess <= result.excess))
      result = { excess: Number.isNaN(excess) ? Infinity : excess, at: i, got: got[i], want: want[i] };
  }
  return result;
}

async function tryWebgpu(): Promise<Backend | null> {
  if (process.env.KILN_RLHF_WEBGPU === '0') return null;
  try {
    return await initBackend('webgpu');
  } catch {
    return null;
  }
}

beforeAll(async () => {
  await init({ backend: 'cpu', quiet: true });
});
const webgpu = await tryWebgpu();
const backends = [
  { name: 'cpu', get: () => initBackend('cpu'), atol: 1e-5, rtol: 1e-4 },
  { name: 'webgpu', get: async () => webgpu!, atol: 1e-4, rtol: 1e-3 },
];

it('the fixture covers every loss of the issue', () => {
  const fns = new Set(fixture.cases.map((c) => c.fn));
  for (const fn of ['bradleyTerryLoss', 'dpoLoss', 'gae', 'ppoLosses', 'grpoAdvantages', 'klPenalty'])
    expect(fns.has(fn), fn).toBe(true);
  const dpoTypes = fixture.cases.filter((c) => c.fn === 'dpoLoss').map((c) => c.options.lossType);
  expect(new Set(dpoTypes)).toEqual(new Set(['sigmoid', 'ipo', 'hinge']));
});

for (const b of backends) {
  describe.skipIf(b.name === 'webgpu' && !webgpu)(`rlhf losses match PyTorch on ${b.name}`, () => {
    for (const c of fixture.cases) {
      it(`${c.fn} ${c.name}`, async () => {
        const backend = await b.get();
        await scope(async () => {
          const data = upload(c.data, backend);
          // gae's and the advantages' inputs are data; the losses' inputs are differentiated
          const inputs = upload(c.inputs, backend);
          const outputs = run[c.fn]({ ...data, ...inputs }, data, c.options);
          for (const [name, want] of Object.entries(c.outputs)) {
            const got = outputs[name];
            expect(got, `${c.fn} ${c.name}: output ${name}`).toBeDefined();
            expect(got.shape).toEqual(want.shape);
            const w = worst(await got.data(), want.data, b.atol, b.rtol);
            expect(w.excess, `${name}[${w.at}]: kiln ${w.got}, torch ${w.want}`).toBeLessThanOrEqual(0);
          }
          for (const [output, wantGrads] of Object.entries(c.grads)) {
            const [, grads] = valueAndGrad((p: Tensors) => run[c.fn](p, data, c.options)[output])(inputs);
            expect(Object.keys(grads).sort()).toEqual(Object.keys(wantGrads).sort());
            for (const [k, want] of Object.entries(wantGrads)) {
              const w = worst(await grads[k].data(), want.data, b.atol, b.rtol);
              expect(
                w.excess,
                `d${output}/d${k}[${w.at}]: kiln ${w.got}, torch ${w.want}`,
              ).toBeLessThanOrEqual(0);
            }
          }
        });
      });
    }
  });
}
