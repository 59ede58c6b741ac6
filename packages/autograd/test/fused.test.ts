/**
 * Gradient rules that call fused backward kernels: finite differences (float64, cpu) through the
 * fused path, second-order gradients through the composite path that `createGraph` switches to,
 * and (where an adapter exists) webgpu gradients against cpu.
 */
import * as T from '@kiln/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { grad, gradCheck } from '../src/index.js';
import { initCpu, maxDiff, normal, tryWebgpu } from './helpers.js';

let gpu: T.Backend | null = null;
beforeAll(async () => {
  await initCpu();
  gpu = await tryWebgpu();
});
afterAll(async () => {
  if (gpu) await T.destroyBackend('webgpu');
});

const attention = (causal: boolean) => (q: T.Tensor, k: T.Tensor, v: T.Tensor) =>
  T.attention(q, k, v, { causal }).sin().sum();

describe('fused rules: finite differences (float64, cpu)', () => {
  const cases: [string, () => T.Tensor[], (...xs: T.Tensor[]) => T.Tensor][] = [
    [
      'attention, not causal, Tq < Tk',
      () => [normal([2, 2, 3, 5], 1), normal([2, 2, 7, 5], 2), normal([2, 2, 7, 5], 3)],
      attention(false),
    ],
    [
      'attention, causal, 4 heads over 2',
      () => [normal([1, 4, 5, 3], 4), normal([1, 2, 5, 3], 5), normal([1, 2, 5, 3], 6)],
      attention(true),
    ],
    ['logSoftmax backward kernel', () => [normal([3, 7], 7)], (x) => x.logSoftmax(-1).mul(x).sum()],
  ];
  for (const [name, inputs, f] of cases) {
    test(name, async () => {
      const result = await gradCheck(f, inputs());
      expect(result.ok).toBe(true);
    });
  }

  test('second order through attention (composite backward under createGraph)', async () => {
    const inputs = () => [normal([1, 2, 4, 3], 8), normal([1, 1, 4, 3], 9), normal([1, 1, 4, 3], 10)];
    const first = (...xs: T.Tensor[]) => {
      const gs = grad(attention(true), { argnums: [0, 1, 2] })(...xs) as T.Tensor[];
      return T.concat(gs.map((g) => g.reshape([-1])));
    };
    const result = await gradCheck(first, inputs());
    expect(result.ok).toBe(true);
  });
});

describe('fused rules: webgpu gradients vs cpu', () => {
  test('attention and cross-entropy gradients', async () => {
    if (!gpu) return;
    const cpu = await T.initBackend('cpu');
    const f = (q: T.Tensor, k: T.Tensor, v: T.Tensor, w: T.Tensor) => {
      const y = T.attention(q, k, v, { causal: true }); // [1, 2, 7, 4]
      const logits = y.reshape([14, 4]).matmul(w); // [14, 33]
      const t = T.tensor(
        Array.from({ length: 14 }, (_, i) => (i % 5 === 0 ? -100 : (i * 7) % 33)),
        { dtype: 'int32', backend: q.backend },
      );
      return T.crossEntropy(logits, t);
    };
    const shapes = [
      [1, 2, 7, 4],
      [1, 1, 7, 4],
      [1, 1, 7, 4],
      [4, 33],
    ];
    const host = await Promise.all(
      shapes.map(async (s, i) => Float32Array.from(await normal(s, 20 + i).data())),
    );
    const run = async (be: T.Backend) => {
      const xs = host.map((d, i) => T.tensor(d, { shape: shapes[i], backend: be }));
      const gs = grad(f, { argnums: [0, 1, 2, 3] })(...xs) as T.Tensor[];
      const out = await Promise.all(gs.map((g) => g.data()));
      for (const t of [...xs, ...gs]) t.dispose();
      return out;
    };
    const [a, b] = [await run(cpu), await run(gpu)];
    for (let i = 0; i < a.length; i++) expect(maxDiff(a[i], b[i])).toBeLessThan(1e-4);
  });
});

describe('embedding rule: the fused, deterministic embeddingBackward', () => {
  // 40 ids over 9 rows: every row repeats, so the sums run over several positions each
  const ids = Array.from({ length: 40 }, (_, i) => (i * 7 + (i >> 2)) % 9);
  const host = Float32Array.from({ length: 9 * 5 }, (_, i) => Math.sin(i * 0.7) * 2);
  const gradOn = async (be: T.Backend) => {
    const w = T.tensor(host, { shape: [9, 5], backend: be });
    const idx = T.tensor(ids, { dtype: 'int32', backend: be });
    const g = grad((x: T.Tensor) => T.embedding(idx, x).sin().sum())(w);
    const out = await g.data();
    for (const t of [w, idx, g]) t.dispose();
    return Float32Array.from(out);
  };

  test('indexSelect on axis 0 runs the fused kernel and matches the cos-sum', async () => {
    const cpu = (await T.initBackend('cpu')) as T.Backend & { embeddingBackward?: (...a: never[]) => void };
    const original = cpu.embeddingBackward!;
    let calls = 0;
    cpu.embeddingBackward = (...a: never[]) => {
      calls++;
      original.apply(cpu, a);
    };
    let got: Float32Array;
    try {
      got = await gradOn(cpu);
    } finally {
      cpu.embeddingBackward = original;
    }
    expect(calls).toBe(1);
    const want = new Float64Array(9 * 5);
    for (const id of ids) for (let c = 0; c < 5; c++) want[id * 5 + c] += Math.cos(host[id * 5 + c]);
    expect(maxDiff(got, want)).toBeLessThan(1e-5);
  });

  test('webgpu: the same gradient as cpu, bit for bit on every run', async () => {
    if (!gpu) return;
    const cpu = await T.initBackend('cpu');
    const [a, b, c] = [await gradOn(gpu), await gradOn(gpu), await gradOn(cpu)];
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(maxDiff(a, c)).toBeLessThan(1e-5);
  });
});
