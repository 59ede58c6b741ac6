/**
 * The MoE layer against a token-by-token host reference (forward, on cpu and webgpu) and its
 * gradients (router through the gates, experts, input) against a dense formulation that runs
 * every expert on every token and masks with the gates, plus finite differences on the router.
 */
import { backward, noGrad, Parameter } from '@kiln/autograd';
import { type Backend, manualSeed, randn, scatterAdd, type Tensor, tensor, zeros } from '@kiln/tensor';
import { ConfigError } from '@kiln/transformer';
import { describe, expect, test } from 'vitest';
import { MoE, type MoEOptions, planAssignments } from '../src/index.js';
import { initCpu, maxAbsDiff, referenceMoE, tryWebgpu } from './helpers.js';

const cpu = await initCpu();
const gpu = await tryWebgpu();
const backends: [string, Backend | null][] = [
  ['cpu', cpu],
  ['webgpu', gpu],
];

const CASES: [string, MoEOptions][] = [
  ['softmax top-2 swiglu dropless', { experts: 4, topK: 2, expertDFF: 8, blockSize: 4 }],
  [
    'softmax top-2 dropless, shared, gates ×2 (routedScale)',
    { experts: 4, topK: 2, expertDFF: 8, sharedExperts: 1, routedScale: 2, blockSize: 4 },
  ],
  ['softmax top-1 gelu dropless', { experts: 3, topK: 1, expertDFF: 6, activation: 'gelu', blockSize: 8 }],
  [
    'sigmoid top-2 fine-grained + shared',
    { experts: 6, topK: 2, expertDFF: 4, sharedExperts: 1, scoring: 'sigmoid', blockSize: 2 },
  ],
  [
    'capacity top-2, factor 0.5 (drops)',
    { experts: 4, topK: 2, expertDFF: 8, dispatch: 'capacity', capacityFactor: 0.5 },
  ],
  [
    'capacity top-1, factor 2',
    { experts: 4, topK: 1, expertDFF: 8, dispatch: 'capacity', capacityFactor: 2 },
  ],
];

function build(options: MoEOptions, backend: Backend, seed = 1): { moe: MoE; x: Tensor } {
  manualSeed(seed);
  const moe = new MoE(8, options, { backend });
  // larger router weights than the init, so routing is decisive and uneven
  noGrad(() => moe.router.weight.assign(randn([options.experts, 8], { std: 0.7, backend })));
  const x = randn([13, 8], { backend });
  return { moe, x };
}

/** Every expert on every token, masked by the gates (and by `kept` for capacity): same maths, no dispatch. */
function denseMoE(moe: MoE, x: Tensor, keptMask?: Tensor): Tensor {
  const [N, d] = x.shape;
  const E = moe.options.experts;
  const r = moe.router.route(x);
  let full = scatterAdd(zeros([N, E], { backend: x.backend }), 1, r.experts, r.gates);
  if (keptMask) full = full.mul(keptMask);
  const y = moe.experts.forwardSlabs(x.unsqueeze(0).expand([E, N, d]));
  let out = y.mul(full.T.unsqueeze(2)).sum(0);
  if (moe.shared) out = out.add(moe.shared.forward(x));
  return out;
}

describe.each(backends)('MoE on %s', (_name, backend) => {
  test.skipIf(!backend).each(CASES)(
    '%s: forward equals the token-by-token reference',
    async (_label, options) => {
      const { moe, x } = build(options, backend!);
      const ref = await referenceMoE(moe, x);
      let expected = ref.out;
      if (moe.shared) {
        const s = Float64Array.from(await noGrad(() => moe.shared!.forward(x)).data());
        expected = expected.map((v, i) => v + s[i]);
      }
      const out = noGrad(() => moe.forward(x));
      expect(maxAbsDiff(await out.data(), expected)).toBeLessThan(2e-5);
      if (options.dispatch === 'capacity' && options.capacityFactor! < 1)
        expect(ref.dropped.reduce((a, b) => a + b)).toBeGreaterThan(0);
      moe.dispose();
    },
  );

  test.skipIf(!backend).each(CASES)('%s: gradients equal the dense formulation', async (_label, options) => {
    const { moe, x: x0 } = build(options, backend!, 2);
    const x = new Parameter(x0);
    const ref = await referenceMoE(moe, x);
    let kept: Tensor | undefined;
    if (options.dispatch === 'capacity') {
      // the reference's kept pairs as a [N, E] mask (a token picks an expert at most once)
      const N = x.shape[0];
      const E = options.experts;
      const routed = noGrad(() => moe.router.route(x).experts);
      const ch = (await routed.toArray()) as number[][];
      const counts = new Array(E).fill(0);
      const C = Math.max(1, Math.ceil((options.capacityFactor! * N * options.topK) / E));
      const m = Array.from({ length: N }, () => new Array(E).fill(0));
      for (let j = 0; j < options.topK; j++)
        for (let n = 0; n < N; n++) {
          const e = ch[n][j];
          if (counts[e]++ < C) m[n][e] = 1;
        }
      kept = tensor(m, { backend: backend! });
      expect(ref.dropped.reduce((a, b) => a + b)).toBe(
        m.flat().filter((v) => v === 0).length - N * (E - options.topK),
      );
    }
    const w = randn([x.shape[0], 8], { backend: backend! });
    const params = [x, ...moe.parameters().filter((p) => p.requiresGrad)];
    const gradsOf = (f: () => Tensor) => {
      for (const p of params) p.grad = null;
      backward(f().mul(w).sum());
      return Promise.all(params.map(async (p) => Float64Array.from(await p.grad!.data())));
    };
    const got = await gradsOf(() => moe.forward(x));
    const want = await gradsOf(() => denseMoE(moe, x, kept));
    got.forEach((g, i) => {
      expect(maxAbsDiff(g, want[i]), `gradient of parameter ${i}`).toBeLessThan(3e-5);
    });
    // the router learns through the gate weights
    const routerGrad = got[params.indexOf(moe.router.weight)];
    expect(Math.max(...routerGrad.map(Math.abs))).toBeGreaterThan(1e-6);
    moe.dispose();
  });
});

test('the router gradient matches finite differences (cpu)', async () => {
  const { moe, x } = build({ experts: 4, topK: 2, expertDFF: 8, blockSize: 4 }, cpu, 3);
  const w = randn([13, 8]);
  const loss = () => moe.forward(x).mul(w).sum();
  moe.router.weight.grad = null;
  backward(loss());
  const analytic = Float64Array.from(await moe.router.weight.grad!.data());
  const base = Float64Array.from(await moe.router.weight.data());
  const eps = 1e-2;
  for (const i of [0, 5, 13, 27]) {
    const at = async (delta: number) => {
      const v = base.slice();
      v[i] += delta;
      noGrad(() => moe.router.weight.assign(tensor(Array.from(v)).reshape([4, 8])));
      return noGrad(() => loss()).item();
    };
    const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
    // routing does not change for so small a step (checked: the selection is the same)
    expect(Math.abs(fd - analytic[i])).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
  }
});

test('pairs are ranked slot-major: every first choice before any second choice', async () => {
  const experts = tensor(
    [
      [0, 1],
      [1, 0],
      [0, 2],
    ],
    { dtype: 'int32' },
  );
  const plan = planAssignments(experts, 3);
  expect(await plan.expert.toArray()).toEqual([0, 1, 0, 1, 0, 2]);
  expect(await plan.rank.toArray()).toEqual([0, 0, 1, 1, 2, 0]);
  expect(await plan.counts.toArray()).toEqual([3, 2, 1]);
});

test('bad options are ConfigErrors naming the field and the fix', () => {
  expect(() => new MoE(8, { experts: 2, topK: 3, expertDFF: 4 })).toThrow(ConfigError);
  expect(() => new MoE(8, { experts: 2, topK: 3, expertDFF: 4 })).toThrow(
    /topK \(3\) is larger than .*experts \(2\)/,
  );
  expect(() => new MoE(8, { experts: 2, topK: 1 })).toThrow(/expertDFF/);
  expect(() => new MoE(8, { experts: 2, topK: 1, expertDFF: 4, capacityFactor: 1 })).toThrow(
    /dispatch: 'capacity'/,
  );
  expect(() => new MoE(8, { experts: 2, topK: 1, expertDFF: 4, scoring: 'relu' as never })).toThrow(
    /scoring must be one of/,
  );
  expect(() => new MoE(8, { experts: 2, topK: 1, expertDFF: 4, balancing: { aux: 1 } as never })).toThrow(
    /unknown option\(s\) aux/,
  );
  expect(() => new MoE(8, { experts: 2, topK: 1, expertDFF: 4, routedScale: 0 })).toThrow(
    /routedScale must be above 0/,
  );
});

test('capacity: padding pairs take no slots and are not counted', async () => {
  const options: MoEOptions = {
    experts: 4,
    topK: 2,
    expertDFF: 8,
    dispatch: 'capacity',
    capacityFactor: 0.75,
  };
  const { moe, x } = build(options, cpu, 4);
  const N = x.shape[0];
  const pad = 5; // the first 5 tokens are padding: unmasked, they would fill slots first
  const maskValues = Array.from({ length: N }, (_, n) => (n < pad ? 0 : 1));
  const reports: Record<string, number> = {};
  const pending: [string, Promise<number>][] = [];
  const out = noGrad(() =>
    moe.forward(x, {
      reportAuxLoss: () => {},
      reportMetric: (name, t) => {
        pending.push([name, t.item()]);
      },
      tokenMask: tensor(maskValues),
    }),
  );
  for (const [name, value] of pending) reports[name] = await value;
  // the reference on the real tokens alone, with the slots the full batch gets
  const C = Math.ceil((0.75 * N * 2) / 4);
  const real = x.slice(0, pad, N);
  const ref = await referenceMoE(
    new Proxy(moe, {
      get: (m, k) =>
        k === 'options'
          ? { ...m.options, capacityFactor: ((C - 0.5) * 4) / ((N - pad) * 2) }
          : Reflect.get(m, k),
    }),
    real,
  );
  const got = (await out.data()).slice(pad * 8);
  expect(maxAbsDiff(got, ref.out)).toBeLessThan(2e-5);
  expect(reports.dropped * ref.counts.reduce((a, b) => a + b)).toBeCloseTo(
    ref.dropped.reduce((a, b) => a + b),
    5,
  );
});

test('router jitter: noisy routing in training mode only', async () => {
  manualSeed(5);
  const moe = new MoE(8, { experts: 4, topK: 1, expertDFF: 4, jitter: 0.5 });
  const x = randn([16, 8]);
  const logitsOf = async () => Float64Array.from(await noGrad(() => moe.router.route(x).logits).data());
  const a = await logitsOf();
  const b = await logitsOf();
  expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
  moe.eval();
  const exact = Float64Array.from(await noGrad(() => x.matmul(moe.router.weight.T)).data());
  expect(maxAbsDiff(await logitsOf(), exact)).toBe(0);
  expect(() => new MoE(8, { experts: 4, topK: 1, expertDFF: 4, jitter: 1 })).toThrow(
    /jitter must be below 1/,
  );
});
