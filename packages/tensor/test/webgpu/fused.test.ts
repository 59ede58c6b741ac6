/**
 * Fused training kernels (the backward ops, attention, AdamW): the CPU reference against the
 * composite built from primitives (a CPU backend with the fused methods removed), and webgpu
 * against cpu on random inputs with awkward shapes. Tolerances: rtol 1e-5 + atol 1e-5 for row
 * kernels (f32 exp against float64); attention rtol 1e-4 + atol 1e-5 (long f32 dot products);
 * AdamW 1e-6.
 */
import { adamwUpdate, type Backend, CpuBackend, scope, type Tensor, tensor } from '@kiln/tensor';
import {
  attentionBackward,
  attentionForward,
  crossEntropyBackward,
  embeddingBackward,
  layerNormBackward,
  rmsNormBackward,
  softmaxBackward,
} from '@kiln/tensor/internal';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compare,
  compareOn,
  cpu,
  gpu,
  type HostSpec,
  make,
  randomSpec,
  rng,
  shutdown,
  skipReason,
  suiteName,
  type Tolerance,
} from './helpers.js';

afterAll(shutdown);

const ROW = { rtol: 1e-5, atol: 1e-5 };
const ATT = { rtol: 1e-4, atol: 1e-5 };

/** A CPU backend without the fused kernels: ops fall back to their composites. */
const plain: Backend = Object.assign(new CpuBackend(), {
  crossEntropyBackward: undefined,
  softmaxBackward: undefined,
  attention: undefined,
  attentionBackward: undefined,
  normBackward: undefined,
  embeddingBackward: undefined,
  adamwUpdate: undefined,
});

/**
 * AdamW with a device control tensor over three calls: a step, a skipped one, and a step whose
 * device count (2) differs from the host's (3), so its bias corrections are computed from the
 * control tensor. Returns p, m, v after each call, then the tensors.
 */
async function adamwControlled(be: Backend, shape: number[]): Promise<number[][]> {
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const [p, g, m, v] = [0, 1, 2, 3].map((i) =>
    make(be, randomSpec(shape, 'float32', { seed: 60 + i, low: i === 3 ? 0 : -1, high: 1 })),
  );
  const out: number[][] = [];
  for (const [skip, deviceStep, hostStep] of [
    [0, 1, 1],
    [1, 1, 2],
    [0, 2, 3],
  ]) {
    const control = tensor([skip, deviceStep], { dtype: 'float32', backend: be });
    adamwUpdate([p], [g], [m], [v], { ...hyper, step: hostStep }, { control });
    control.dispose();
    for (const t of [p, m, v]) out.push(Array.from(await t.data()));
  }
  for (const t of [p, g, m, v]) t.dispose();
  return out;
}

/** Embedding backward with many repeated ids: g [N, ...rest] into V rows. */
function runEmbedding(be: Backend, N: number, V: number, rest: number[]): Tensor[] {
  const r = rng(N * V);
  const ids = {
    data: Array.from({ length: N }, () => Math.floor(r() * V)),
    shape: [N],
    dtype: 'int32' as const,
  };
  const g = make(be, randomSpec([N, ...rest], 'float32', { seed: 70 }));
  return [embeddingBackward(g, make(be, ids), V)];
}

const EMBEDDING_CASES: [number, number, number[]][] = [
  [1, 1, [1]],
  [7, 3, [33]],
  [257, 7, [3, 5]],
];

/** Every variant of the norm backwards on one input: [dx, dw, db] with and without weight/bias. */
function runNorms(be: Backend, shape: number[]): Tensor[] {
  const n = shape[shape.length - 1];
  const x = make(be, randomSpec(shape, 'float32', { seed: 60 }));
  const g = make(be, randomSpec(shape, 'float32', { seed: 61 }));
  const w = make(be, randomSpec([n], 'float32', { seed: 62, low: 0.5, high: 1.5 }));
  const eps = 1e-5;
  const [dx, dw, db] = layerNormBackward(x, w, g, { eps, bias: true });
  const [dx2] = layerNormBackward(x, null, g, { eps });
  const [dx3, dw3] = rmsNormBackward(x, w, g, { eps });
  const [dx4] = rmsNormBackward(x, null, g, { eps });
  return [dx, dw!, db!, dx2, dx3, dw3!, dx4];
}

function targetsSpec(n: number, C: number, seed: number, ignore = -100) {
  const r = rng(seed);
  const data = Array.from({ length: n }, () => (r() < 0.2 ? ignore : Math.floor(r() * C)));
  return { data, shape: [n], dtype: 'int32' as const };
}

/** Runs `fn` on both CPU backends (fused reference vs composite) and compares. */
const cpuAgrees = (fn: (be: Backend) => Tensor[], tol: Tolerance, what: string) =>
  compareOn(cpu, plain, fn, tol, what);

/** Random attention inputs: q [B, H, Tq, D], k/v [B, Hkv, Tk, D], upstream gradient. */
function attentionSpecs(B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number) {
  return {
    q: randomSpec([B, H, Tq, D], 'float32', { seed: 1 + Tq }),
    k: randomSpec([B, Hkv, Tk, D], 'float32', { seed: 2 + Tk }),
    v: randomSpec([B, Hkv, Tk, D], 'float32', { seed: 3 + D }),
    g: randomSpec([B, H, Tq, D], 'float32', { seed: 4 }),
  };
}

function runAttention(be: Backend, s: ReturnType<typeof attentionSpecs>, causal: boolean): Tensor[] {
  const [q, k, v, g] = [s.q, s.k, s.v, s.g].map((x) => make(be, x));
  const [out, lse] = attentionForward(q, k, v, { causal });
  return [out, lse, ...attentionBackward(q, k, v, out, lse, g, { causal })];
}

const ATTENTION_CASES: [number, number, number, number, number, number][] = [
  // B, H, Hkv, Tq, Tk, D
  [1, 1, 1, 1, 1, 1],
  [2, 3, 3, 7, 7, 5],
  [1, 4, 2, 33, 33, 16],
  [1, 2, 1, 3, 7, 33],
];

describe('fused kernels: cpu reference vs composite', () => {
  it('crossEntropyBackward, every reduction', async () => {
    for (const [n, C] of [
      [1, 1],
      [7, 33],
      [3, 257],
    ]) {
      const logits = randomSpec([n, C], 'float32', { low: -6, high: 6 });
      const t = targetsSpec(n, C, n + C);
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const g = randomSpec(reduction === 'none' ? [n] : [], 'float32', { low: 0.5, high: 2 });
        await cpuAgrees(
          (be) => [crossEntropyBackward(make(be, logits), make(be, t), make(be, g), { reduction })],
          ROW,
          `ce backward [${n}, ${C}] ${reduction}`,
        );
      }
    }
  });

  it('softmaxBackward and its log variant', async () => {
    const x = randomSpec([7, 33], 'float32', { low: -4, high: 4 });
    const g = randomSpec([7, 33], 'float32', { seed: 9 });
    await cpuAgrees(
      (be) => {
        const y = make(be, x).softmax(-1);
        const ly = make(be, x).logSoftmax(-1);
        return [softmaxBackward(y, make(be, g)), softmaxBackward(ly, make(be, g), -1, true)];
      },
      ROW,
      'softmax backward',
    );
  });

  it('embedding backward with repeated ids', async () => {
    for (const [N, V, rest] of EMBEDDING_CASES)
      await cpuAgrees((be) => runEmbedding(be, N, V, rest), ROW, `embedding [${N}, ${V}, ${rest}]`);
  });

  it('layerNorm/rmsNorm backward', async () => {
    for (const shape of [[1], [7, 33], [3, 2, 257]])
      await cpuAgrees((be) => runNorms(be, shape), ROW, `norm backward [${shape}]`);
  });

  it('attention forward and backward, causal and not, grouped heads', async () => {
    for (const c of ATTENTION_CASES) {
      const s = attentionSpecs(...c);
      for (const causal of [false, true])
        await cpuAgrees((be) => runAttention(be, s, causal), ATT, `attention [${c}] causal ${causal}`);
    }
  });

  it('adamwUpdate equals the unfused math bit for bit', async () => {
    const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 3 };
    const shapes = [[1], [7, 33], [257]];
    const results = await Promise.all(
      [cpu, plain].map(async (be) => {
        const p = shapes.map((s, i) => make(be, randomSpec(s, 'float32', { seed: 10 + i })));
        const g = shapes.map((s, i) => make(be, randomSpec(s, 'float32', { seed: 20 + i })));
        const m = shapes.map((s, i) =>
          make(be, randomSpec(s, 'float32', { seed: 30 + i, low: -0.1, high: 0.1 })),
        );
        const v = shapes.map((s, i) =>
          make(be, randomSpec(s, 'float32', { seed: 40 + i, low: 0, high: 0.1 })),
        );
        for (let step = 1; step <= 3; step++) adamwUpdate(p, g, m, v, { ...hyper, step });
        const out = await Promise.all([...p, ...m, ...v].map((t) => t.data()));
        for (const t of [...p, ...g, ...m, ...v]) t.dispose();
        return out;
      }),
    );
    for (const [i, a] of results[0].entries()) expect(Array.from(a)).toEqual(Array.from(results[1][i]));
  });

  it('adamwUpdate with a control tensor: a skip changes nothing, the device step sets the bias corrections', async () => {
    const shape = [7, 33];
    const fused = await adamwControlled(cpu, shape);
    // the skipped call (p, m, v at 3–5) left the first call's values (0–2)
    for (let i = 0; i < 3; i++) expect(fused[3 + i]).toEqual(fused[i]);
    // the same as two plain steps 1 and 2: the device count 2 won over the host's 3
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const [p, g, m, v] = [0, 1, 2, 3].map((i) =>
      make(cpu, randomSpec(shape, 'float32', { seed: 60 + i, low: i === 3 ? 0 : -1, high: 1 })),
    );
    for (let step = 1; step <= 2; step++) adamwUpdate([p], [g], [m], [v], { ...hyper, step });
    const plainSteps = await Promise.all([p, m, v].map(async (t) => Array.from(await t.data())));
    for (const t of [p, g, m, v]) t.dispose();
    expect(fused.slice(6)).toEqual(plainSteps);
    // the composite fallback agrees (its bias corrections are float32 tensor ops: 1e-6)
    const composite = await adamwControlled(plain, shape);
    for (const [i, a] of composite.entries())
      a.forEach((x, j) =>
        expect(Math.abs(x - fused[i][j])).toBeLessThanOrEqual(1e-6 + 1e-6 * Math.abs(fused[i][j])),
      );
  });
});

describe.skipIf(!!skipReason)(suiteName('fused kernels: webgpu vs cpu'), () => {
  it('crossEntropyBackward', async () => {
    for (const [n, C] of [
      [1, 1],
      [7, 33],
      [3, 257],
      [2, 5000],
    ]) {
      const logits = randomSpec([n, C], 'float32', { low: -6, high: 6 });
      const t = targetsSpec(n, C, n * C);
      for (const reduction of ['mean', 'none'] as const) {
        const g = randomSpec(reduction === 'none' ? [n] : [], 'float32', { low: 0.5, high: 2 });
        await compare(
          (be) => crossEntropyBackward(make(be, logits), make(be, t), make(be, g), { reduction }),
          ROW,
          `ce backward [${n}, ${C}] ${reduction}`,
        );
      }
    }
  });

  it('softmaxBackward', async () => {
    for (const shape of [[1], [7, 33], [3, 257]]) {
      const y = randomSpec(shape, 'float32', { low: 0, high: 1 });
      const g = randomSpec(shape, 'float32', { seed: 5 });
      await compare(
        (be) => [
          softmaxBackward(make(be, y), make(be, g)),
          softmaxBackward(make(be, y), make(be, g), -1, true),
        ],
        ROW,
        `softmax backward [${shape}]`,
      );
    }
  });

  it('embedding backward with repeated ids', async () => {
    for (const [N, V, rest] of EMBEDDING_CASES)
      await compare((be) => runEmbedding(be, N, V, rest), ROW, `embedding [${N}, ${V}, ${rest}]`);
  });

  it('layerNorm/rmsNorm backward', async () => {
    for (const shape of [[1], [7, 33], [3, 2, 257]])
      await compare((be) => runNorms(be, shape), { rtol: 1e-4, atol: 1e-5 }, `norm backward [${shape}]`);
  });

  it('attention forward and backward', async () => {
    for (const c of ATTENTION_CASES) {
      const s = attentionSpecs(...c);
      for (const causal of [false, true])
        await compare((be) => runAttention(be, s, causal), ATT, `attention [${c}] causal ${causal}`);
    }
  });

  it('adamwUpdate within 1e-6 of the cpu', async () => {
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 };
    for (const shape of [[1], [7, 33], [257]]) {
      const specs = [0, 1, 2, 3].map((i) =>
        randomSpec(shape, 'float32', { seed: 50 + i, low: i === 3 ? 0 : -1, high: 1 }),
      );
      await compare(
        (be) => {
          const [p, g, m, v] = specs.map((s) => make(be, s));
          for (let step = 1; step <= 2; step++) adamwUpdate([p], [g], [m], [v], { ...hyper, step });
          g.dispose();
          return [p, m, v];
        },
        { rtol: 1e-6, atol: 1e-6 },
        `adamw [${shape}]`,
      );
    }
  });

  it('adamwUpdate with a control tensor (skip, device step) within 1e-5 of the cpu', async () => {
    // [64] takes the vec4 kernel, the others the scalar one; the device step's bias corrections
    // use float32 pow on the GPU, float64 on the CPU
    for (const shape of [[1], [7, 33], [64]]) {
      const want = await adamwControlled(cpu, shape);
      const got = await adamwControlled(gpu!, shape);
      for (let i = 0; i < 3; i++) expect(got[3 + i]).toEqual(got[i]); // the skip wrote nothing
      for (const [i, a] of got.entries())
        a.forEach((x, j) =>
          expect(Math.abs(x - want[i][j])).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want[i][j])),
        );
    }
  });
});

describe.skipIf(!!skipReason)(suiteName('attention kernel variants: webgpu vs cpu'), () => {
  // each variant forced (KILN_ATTENTION_VARIANT; a variant the adapter cannot run falls back):
  // head dims 33 and 64 take 2 vec4 chunks per lane in the subgroup kernels; T = 129 ends
  // mid-block; Tq < Tk with grouped heads checks the bottom-right causal alignment per block
  const cases: [number, number, number, number, number, number][] = [
    ...ATTENTION_CASES,
    [2, 2, 1, 129, 129, 32],
    [1, 4, 2, 6, 11, 64],
  ];
  const withVariant = async (variant: string, body: () => Promise<void>) => {
    process.env.KILN_ATTENTION_VARIANT = variant;
    try {
      await body();
    } finally {
      delete process.env.KILN_ATTENTION_VARIANT;
    }
  };

  for (const variant of ['onepass', 'subgroup', 'rows'])
    it(`${variant} kernels, float32`, () =>
      withVariant(variant, async () => {
        for (const c of cases) {
          const s = attentionSpecs(...c);
          for (const causal of [false, true])
            await compare((be) => runAttention(be, s, causal), ATT, `${variant} [${c}] causal ${causal}`);
        }
      }));

  it.skipIf(!gpu?.info.dtypes.includes('float16'))('subgroup and row kernels, float16', async () => {
    const half = (x: HostSpec): HostSpec => ({ ...x, dtype: 'float16' });
    const s = attentionSpecs(1, 2, 1, 33, 33, 16);
    const h = { q: half(s.q), k: half(s.k), v: half(s.v), g: half(s.g) };
    for (const variant of ['subgroup', 'rows'])
      await withVariant(variant, () =>
        compare((be) => runAttention(be, h, true), { rtol: 1e-2, atol: 1e-2 }, `${variant} f16`),
      );
  });
});

describe.skipIf(!!skipReason)(suiteName('embedding backward (sort + runs): webgpu vs cpu'), () => {
  // 65 and 130 need one and two merge passes after the 64-position blocks; 2048 five; one id
  // everywhere is a single run across every block
  it('sorted runs, float32', async () => {
    for (const [N, V, rest] of [
      [65, 200, [1]],
      [130, 1, [4]],
      [2048, 50, [3]],
    ] as [number, number, number[]][])
      await compare((be) => runEmbedding(be, N, V, rest), ROW, `embedding [${N}, ${V}, ${rest}]`);
  });

  it('repeats bit for bit', async () => {
    const a = scope(() => runEmbedding(gpu!, 1000, 37, [9]));
    const b = scope(() => runEmbedding(gpu!, 1000, 37, [9]));
    expect(Array.from(await a[0].data())).toEqual(Array.from(await b[0].data()));
    for (const t of [...a, ...b]) t.dispose();
  });

  it.skipIf(!gpu?.info.dtypes.includes('float16'))('float16 gradients', async () => {
    const N = 300;
    const r = rng(5);
    const ids = {
      data: Array.from({ length: N }, () => Math.floor(r() * 11)),
      shape: [N],
      dtype: 'int32' as const,
    };
    const g = {
      ...randomSpec([N, 6], 'float32', { seed: 71, low: -0.5, high: 0.5 }),
      dtype: 'float16' as const,
    };
    await compare(
      (be) => [embeddingBackward(make(be, g), make(be, ids), 11)],
      { rtol: 1e-2, atol: 1e-2 },
      'embedding f16',
    );
  });
});

void tensor;
