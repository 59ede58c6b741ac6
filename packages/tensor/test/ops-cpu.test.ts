import { beforeAll, describe, expect, it } from 'vitest';
import {
  arange,
  concat,
  crossEntropy,
  embedding,
  eye,
  full,
  init,
  layerNorm,
  linspace,
  manualSeed,
  matmul,
  multinomial,
  oneHot,
  pad,
  rand,
  randint,
  randn,
  rmsNorm,
  round,
  scatterAdd,
  stack,
  type Tensor,
  tensor,
  topk,
  tril,
  triu,
  where,
} from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Deterministic pseudo-random host data (never all zeros). */
function hostData(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

async function arr(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    if (Number.isNaN(e)) expect(a).toBeNaN();
    else expect(Math.abs(a - e), `index ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e)));
  }
}

describe('creation', () => {
  it('builds tensors from nested arrays, typed arrays and shapes', async () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(await t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(await tensor([true, false]).toArray()).toEqual([true, false]);
    expect(await tensor(new Float32Array(6).fill(2), { shape: [3, 2] }).toArray()).toEqual([
      [2, 2],
      [2, 2],
      [2, 2],
    ]);
    expect(await tensor(7).item()).toBe(7);
  });
  it('rejects ragged arrays and non-integers for integer dtypes', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => tensor([1.5], { dtype: 'int32' })).toThrow(/not an integer/);
  });
  it('arange, linspace, eye, full', async () => {
    expect(await arr(arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('int32');
    close(await arange(0, 1, 0.25).data(), [0, 0.25, 0.5, 0.75]);
    close(await linspace(0, 1, 5).data(), [0, 0.25, 0.5, 0.75, 1]);
    expect(await eye(2, 3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    expect(await full([2], 3, { dtype: 'int32' }).toArray()).toEqual([3, 3]);
  });
  it('float16 tensors round to half precision', async () => {
    const t = tensor([1 / 3, 65504, 1e-8], { dtype: 'float16' });
    const d = await t.data();
    expect(d[0]).toBeCloseTo(0.333251953125, 10);
    expect(d[1]).toBe(65504);
    expect(d[2]).toBe(0); // below the smallest subnormal rounds to zero
  });
});

describe('random', () => {
  it('is reproducible from manualSeed and has the right moments', async () => {
    manualSeed(42);
    const a = await arr(randn([20000]));
    manualSeed(42);
    const b = await arr(randn([20000]));
    expect(a).toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
    const u = await arr(rand([20000], { low: 2, high: 4 }));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThan(4);
    expect(Math.abs(u.reduce((s, v) => s + v, 0) / u.length - 3)).toBeLessThan(0.02);
    const ints = await arr(randint(-3, 3, [6000]));
    expect(new Set(ints)).toEqual(new Set([-3, -2, -1, 0, 1, 2]));
  });
  it('successive draws differ', async () => {
    manualSeed(1);
    expect(await arr(rand([8]))).not.toEqual(await arr(rand([8])));
  });
});

describe('elementwise', () => {
  it('broadcasts NumPy-style with scalars adopting the tensor dtype', async () => {
    const a = tensor([[1], [2], [3]]);
    const b = tensor([10, 20]);
    expect(await a.add(b).toArray()).toEqual([
      [11, 21],
      [12, 22],
      [13, 23],
    ]);
    expect(await a.mul(2).toArray()).toEqual([[2], [4], [6]]);
    expect(await tensor([7, -7], { dtype: 'int32' }).div(2).toArray()).toEqual([3, -3]);
    expect(() => tensor([1], { dtype: 'int32' }).mul(0.5)).toThrow(/not an integer/);
    expect(() => tensor([1]).add(tensor([1], { dtype: 'int32' }))).toThrow(/dtypes differ/);
  });
  it('computes unary functions like the formulas', async () => {
    const x = hostData(64, 3);
    const t = tensor(x);
    const ref = (f: (v: number) => number) => Array.from(x, f);
    close(await t.exp().data(), ref(Math.exp));
    close(await t.tanh().data(), ref(Math.tanh));
    close(
      await t.sigmoid().data(),
      ref((v) => 1 / (1 + Math.exp(-v))),
    );
    close(
      await t.silu().data(),
      ref((v) => v / (1 + Math.exp(-v))),
    );
    close(
      await t.relu().data(),
      ref((v) => Math.max(v, 0)),
    );
    close(
      await t.clamp(-0.5, 0.5).data(),
      ref((v) => Math.min(0.5, Math.max(-0.5, v))),
    );
    close(
      await t.gelu({ approximate: 'tanh' }).data(),
      ref((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
    );
    // exact GELU: values from PyTorch's torch.nn.functional.gelu
    close(await tensor([-1, 0.5, 2]).gelu().data(), [-0.15865525, 0.34573123, 1.95449972], 1e-6);
    close(await round(tensor([0.5, 1.5, 2.5, -0.5])).data(), [0, 2, 2, -0]); // half to even
  });
  it('comparisons and logical ops give bool; where selects', async () => {
    const a = tensor([1, 2, 3]);
    const m = a.gt(1.5);
    expect(m.dtype).toBe('bool');
    expect(await m.toArray()).toEqual([false, true, true]);
    expect(await m.logicalNot().toArray()).toEqual([true, false, false]);
    expect(await where(m, a, 0).toArray()).toEqual([0, 2, 3]);
    expect(() => where(a, a, a)).toThrow(/cond must be bool/);
  });
});

describe('reductions', () => {
  const x = hostData(2 * 3 * 4, 5);
  const ref = (i: number, j: number, k: number) => x[i * 12 + j * 4 + k];
  it('sum/mean/max over any axes with keepDim', async () => {
    const t = tensor(x, { shape: [2, 3, 4] });
    const s = t.sum([0, 2], true);
    expect(s.shape).toEqual([1, 3, 1]);
    const expected = [0, 1, 2].map((j) =>
      [0, 1].reduce((a, i) => a + [0, 1, 2, 3].reduce((b, k) => b + ref(i, j, k), 0), 0),
    );
    close(await s.data(), expected);
    close(await t.mean().data(), [x.reduce((a, b) => a + b, 0) / x.length]);
    close(
      await t.max(1).data(),
      [0, 1].flatMap((i) => [0, 1, 2, 3].map((k) => Math.max(ref(i, 0, k), ref(i, 1, k), ref(i, 2, k)))),
    );
  });
  it('argmax picks the first maximum; var uses Bessel correction; logsumexp is stable', async () => {
    expect(
      await tensor([
        [1, 3, 3],
        [5, 0, 5],
      ])
        .argmax(1)
        .toArray(),
    ).toEqual([1, 0]);
    expect(
      await tensor([
        [1, 3],
        [5, 0],
      ])
        .argmax()
        .item(),
    ).toBe(2);
    close(await tensor([1, 2, 3, 4]).var().data(), [5 / 3]);
    close(await tensor([1, 2, 3, 4]).var(0, { correction: 0 }).data(), [1.25]);
    close(await tensor([1000, 1000]).logsumexp().data(), [1000 + Math.log(2)]);
    expect(await tensor([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]).logsumexp().item()).toBe(
      Number.NEGATIVE_INFINITY,
    );
  });
  it('cumsum along an inner axis', async () => {
    expect(
      await tensor([
        [1, 2],
        [3, 4],
      ])
        .cumsum(0)
        .toArray(),
    ).toEqual([
      [1, 2],
      [4, 6],
    ]);
  });
});

describe('views', () => {
  it('share storage and read strided data correctly', async () => {
    const t = arange(12).reshape([3, 4]);
    expect(await t.T.toArray()).toEqual([
      [0, 4, 8],
      [1, 5, 9],
      [2, 6, 10],
      [3, 7, 11],
    ]);
    expect(t.T.storage).toBe(t.storage);
    expect(await t.slice(1, 1, 4, 2).toArray()).toEqual([
      [1, 3],
      [5, 7],
      [9, 11],
    ]);
    expect(await t.narrow(0, 1, 1).toArray()).toEqual([[4, 5, 6, 7]]);
    expect(await tensor([1, 2]).unsqueeze(1).expand([2, 3]).toArray()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(t.T.reshape([12]).storage).not.toBe(t.storage); // needs a copy
    expect(() => t.T.view([12])).toThrow(/without copying/);
    expect(await t.T.contiguous().view([12]).toArray()).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(t.unsqueeze(0).squeeze().shape).toEqual([3, 4]);
    expect(t.flatten().shape).toEqual([12]);
  });
  it('split/chunk/concat/stack/pad round-trip', async () => {
    const t = arange(10);
    const parts = t.split([3, 7]);
    expect(parts.map((p) => p.shape[0])).toEqual([3, 7]);
    expect(await concat(parts).toArray()).toEqual(await t.toArray());
    expect(t.chunk(3).map((p) => p.shape[0])).toEqual([4, 4, 2]);
    expect(stack([t, t], 1).shape).toEqual([10, 2]);
    expect(
      await pad(
        tensor([[1, 2]]),
        [
          [1, 0],
          [0, 2],
        ],
        9,
      ).toArray(),
    ).toEqual([
      [9, 9, 9, 9],
      [1, 2, 9, 9],
    ]);
  });
  it('tril/triu', async () => {
    const m = tensor([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    expect(await tril(m).toArray()).toEqual([
      [1, 0, 0],
      [4, 5, 0],
      [7, 8, 9],
    ]);
    expect(await triu(m, 1).toArray()).toEqual([
      [0, 2, 3],
      [0, 0, 6],
      [0, 0, 0],
    ]);
  });
  it('assign writes in place through broadcasting', async () => {
    const t = tensor([
      [1, 2],
      [3, 4],
    ]);
    t.assign(tensor([7, 8]));
    expect(await t.toArray()).toEqual([
      [7, 8],
      [7, 8],
    ]);
    expect(t.version).toBe(1);
  });
});

describe('matmul', () => {
  function naive(a: Float32Array, b: Float32Array, m: number, k: number, n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
        out.push(s);
      }
    return out;
  }
  it('matches a triple loop, with batch broadcasting and transposed views', async () => {
    const [m, k, n] = [7, 33, 5];
    const a = hostData(m * k, 1);
    const b = hostData(k * n, 2);
    close(
      await matmul(tensor(a, { shape: [m, k] }), tensor(b, { shape: [k, n] })).data(),
      naive(a, b, m, k, n),
      1e-5,
    );
    // b given as the transpose of an [n, k] tensor, read in place
    const bT = new Float32Array(n * k);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bT[j * k + p] = b[p * n + j];
    close(
      await matmul(tensor(a, { shape: [m, k] }), tensor(bT, { shape: [n, k] }).T).data(),
      naive(a, b, m, k, n),
      1e-5,
    );
    // batch broadcast [2,1,m,k] @ [3,k,n] → [2,3,m,n]
    const out = matmul(
      tensor(a, { shape: [m, k] }).expand([2, 1, m, k]),
      tensor(b, { shape: [k, n] }).expand([3, k, n]),
    );
    expect(out.shape).toEqual([2, 3, m, n]);
    close(
      await out.data(),
      Array(6)
        .fill(naive(a, b, m, k, n))
        .flat(),
      1e-5,
    );
    // 1-D operands
    expect(
      matmul(
        tensor([1, 2]),
        tensor([
          [1, 0],
          [0, 1],
        ]),
      ).shape,
    ).toEqual([2]);
    expect(await matmul(tensor([1, 2]), tensor([3, 4])).item()).toBe(11);
  });
  it('names the shapes when inner dimensions differ', () => {
    expect(() => matmul(full([2, 3], 1), full([4, 5], 1))).toThrow(
      'matmul: inner dimensions differ: [2,3] @ [4,5]',
    );
  });
});

describe('building blocks', () => {
  it('softmax and logSoftmax along any axis', async () => {
    const x = hostData(12, 7);
    const t = tensor(x, { shape: [3, 4] });
    const s = await t.softmax(0).data();
    for (let j = 0; j < 4; j++) {
      const col = [0, 1, 2].map((i) => x[i * 4 + j]);
      const z = col.reduce((a, v) => a + Math.exp(v), 0);
      close(
        [0, 1, 2].map((i) => s[i * 4 + j]),
        col.map((v) => Math.exp(v) / z),
      );
    }
    const ls = await t.logSoftmax().data();
    close(Array.from(ls, Math.exp), await t.softmax().data());
  });
  it('layerNorm and rmsNorm match their formulas', async () => {
    const x = hostData(2 * 5, 9);
    const w = hostData(5, 10);
    const b = hostData(5, 11);
    const ln = await layerNorm(tensor(x, { shape: [2, 5] }), tensor(w), tensor(b)).data();
    const rn = await rmsNorm(tensor(x, { shape: [2, 5] }), tensor(w), { eps: 1e-6 }).data();
    for (let r = 0; r < 2; r++) {
      const row = Array.from(x.slice(r * 5, r * 5 + 5));
      const mu = row.reduce((a, v) => a + v, 0) / 5;
      const v = row.reduce((a, q) => a + (q - mu) ** 2, 0) / 5;
      close(
        ln.slice(r * 5, r * 5 + 5),
        row.map((q, j) => ((q - mu) / Math.sqrt(v + 1e-5)) * w[j] + b[j]),
      );
      const ms = row.reduce((a, q) => a + q * q, 0) / 5;
      close(
        rn.slice(r * 5, r * 5 + 5),
        row.map((q, j) => (q / Math.sqrt(ms + 1e-6)) * w[j]),
      );
    }
  });
  it('crossEntropy ignores targets and averages over the rest', async () => {
    const logits = tensor([
      [2, 1, 0],
      [0, 3, 1],
      [1, 1, 1],
    ]);
    const targets = tensor([0, -100, 2], { dtype: 'int32' });
    const row = (l: number[], t: number) => Math.log(l.reduce((a, v) => a + Math.exp(v), 0)) - l[t];
    const r0 = row([2, 1, 0], 0);
    const r2 = row([1, 1, 1], 2);
    close(await crossEntropy(logits, targets).data(), [(r0 + r2) / 2]);
    close(await crossEntropy(logits, targets, { reduction: 'sum' }).data(), [r0 + r2]);
    close(await crossEntropy(logits, targets, { reduction: 'none' }).data(), [r0, 0, r2]);
    expect(() => crossEntropy(logits, tensor([0, 3, 1], { dtype: 'int32' }))).toThrow(
      /index 3 is out of range \[0, 3\)/,
    );
  });
  it('embedding, gather, scatterAdd with repeated indices, topk, oneHot', async () => {
    const w = tensor([
      [0, 1],
      [10, 11],
      [20, 21],
    ]);
    const ids = tensor(
      [
        [2, 0],
        [2, 2],
      ],
      { dtype: 'int32' },
    );
    expect(await embedding(ids, w).toArray()).toEqual([
      [
        [20, 21],
        [0, 1],
      ],
      [
        [20, 21],
        [20, 21],
      ],
    ]);
    expect(() => embedding(tensor([3], { dtype: 'int32' }), w)).toThrow(/index 3 is out of range \[0, 3\)/);
    expect(await w.gather(1, tensor([[1], [0], [1]], { dtype: 'int32' })).toArray()).toEqual([
      [1],
      [10],
      [21],
    ]);
    const acc = scatterAdd(full([3], 0), 0, tensor([0, 2, 0, 0], { dtype: 'int32' }), tensor([1, 2, 3, 4]));
    expect(await acc.toArray()).toEqual([8, 0, 2]);
    const [v, i] = topk(tensor([[3, 1, 4, 1, 5]]), 3);
    expect(await v.toArray()).toEqual([[5, 4, 3]]);
    expect(await i.toArray()).toEqual([[4, 2, 0]]);
    expect(await oneHot(tensor([2, 0], { dtype: 'int32' }), 3).toArray()).toEqual([
      [0, 0, 1],
      [1, 0, 0],
    ]);
  });
  it('multinomial follows the weights and never draws zero-weight classes', async () => {
    manualSeed(3);
    const draws = await arr(multinomial(tensor([0.2, 0, 0.8]), 4000, { replacement: true }));
    const freq = [0, 1, 2].map((c) => draws.filter((d) => d === c).length / draws.length);
    expect(freq[1]).toBe(0);
    expect(Math.abs(freq[2] - 0.8)).toBeLessThan(0.03);
    const noRep = await arr(multinomial(tensor([[1, 0, 1, 1]]), 3));
    expect(new Set(noRep)).toEqual(new Set([0, 2, 3]));
    expect(() => multinomial(tensor([1, 1]), 3)).toThrow(/without replacement/);
  });
});

describe('index checking', () => {
  it('reports out-of-range device-computed ids at the next readback when enabled', async () => {
    const { setIndexChecking, IndexError } = await import('../src/index.js');
    const w = tensor([
      [1, 2],
      [3, 4],
    ]);
    // ids computed on the device carry no host range: argmax over 3 columns can yield 2
    const ids = tensor([[0, 0, 5]]).argmax(1);
    setIndexChecking(true);
    try {
      const rows = embedding(ids, w); // 2 is out of range for 2 rows
      await expect(rows.data()).rejects.toThrow(IndexError);
      await expect(rows.data()).resolves.toBeDefined(); // reported once
    } finally {
      setIndexChecking(false);
    }
  });
});
