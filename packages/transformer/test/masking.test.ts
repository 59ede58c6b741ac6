/**
 * Packed rows, padding and per-token positions through the whole model: a packed row's logits,
 * loss and gradients equal those of its documents run one by one; a padded batch equals its
 * rows run alone; a left-padded batch prefilled into the KV cache and decoded token by token
 * equals each row's own full forward. GPT-2 (learned positions) and Llama (RoPE, grouped
 * heads), on cpu and webgpu.
 */
import { backward, noGrad } from '@kiln/autograd';
import { type Backend, manualSeed, type Tensor, tensor } from '@kiln/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import { type FeedForwardContext, GeluMLP, GPT, registerFeedForward } from '../src/index.js';
import { initCpu, maxAbsDiff, randomTokens, tryWebgpu } from './helpers.js';

const cpu = await initCpu();
const webgpu = await tryWebgpu();
const backends: [string, Backend][] = [
  ['cpu', cpu],
  ...(webgpu ? [['webgpu', webgpu] as [string, Backend]] : []),
];
const TOL: Record<string, number> = { cpu: 2e-5, webgpu: 2e-4 };

afterAll(() => {
  if (!webgpu) console.warn('[kiln] no WebGPU adapter: masking tests ran on cpu only');
});

function model(family: 'gpt2' | 'llama', backend: Backend): GPT {
  manualSeed(family === 'gpt2' ? 3 : 4);
  return new GPT(GPT.config(family === 'gpt2' ? 'gpt2-tiny' : 'llama-tiny'), { backend });
}

const int = (rows: number[][], backend: Backend) => tensor(rows, { dtype: 'int32', backend });

/** Gradients of every parameter after `run` (which calls backward), as host arrays by name. */
async function gradsAfter(m: GPT, run: () => void): Promise<Map<string, Float32Array>> {
  m.zeroGrad();
  run();
  const out = new Map<string, Float32Array>();
  for (const [name, p] of m.namedParameters()) out.set(name, (await p.grad!.data()) as Float32Array);
  m.zeroGrad();
  return out;
}

function expectGradsClose(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number): void {
  for (const [name, g] of a) {
    const scale = Math.max(1, ...Array.from(g, Math.abs));
    expect(maxAbsDiff(g, b.get(name)!) / scale, name).toBeLessThan(tol);
  }
}

/** Host logits of `m.forward(ids, options)` rows [start, end) of batch row `row`. */
async function logitsOf(logits: Tensor, row: number, start: number, end: number): Promise<Float32Array> {
  return (await logits
    .slice(0, row, row + 1)
    .slice(1, start, end)
    .data()) as Float32Array;
}

describe.each(['gpt2', 'llama'] as const)('%s', (family) => {
  describe.each(backends)('on %s', (name, backend) => {
    const tol = TOL[name];

    test('a packed row equals its documents run one by one: logits, loss and gradients', async () => {
      const m = model(family, backend);
      // two rows of 16 tokens: documents of 5, 1 and 10 tokens, and of 9 and 7
      const docs = [
        [5, 1, 10],
        [9, 7],
      ];
      const T = 16;
      const tokens = docs.map((_, r) => randomTokens(T, 256, 10 + r));
      const targets = docs.map((lengths, r) => {
        const t = randomTokens(T, 256, 20 + r);
        // the last token of each document has no target inside the document; one more ignored
        let end = 0;
        for (const n of lengths) {
          end += n;
          t[end - 1] = -100;
        }
        t[2] = -100;
        return t;
      });
      const segments = docs.map((lengths) => lengths.flatMap((n, d) => Array(n).fill(d)));
      const valid = targets.flat().filter((t) => t !== -100).length;

      let packedLoss = 0;
      let packedLogits: Tensor | undefined;
      const packed = await gradsAfter(m, () => {
        const out = m.forward(int(tokens, backend), {
          targets: int(targets, backend),
          segments: int(segments, backend),
        });
        backward(out.loss!);
        packedLogits = out.logits;
        packedLoss = Number.NaN;
        void out.loss!.item().then((v) => {
          packedLoss = v;
        });
      });

      // each document alone, its mean loss weighted by its targets: the same mean over the row
      let aloneLoss = 0;
      const aloneLogits: [number, number, number, Float32Array][] = [];
      const pending: Promise<void>[] = [];
      const alone = await gradsAfter(m, () => {
        docs.forEach((lengths, r) => {
          let start = 0;
          for (const n of lengths) {
            const ids = int([tokens[r].slice(start, start + n)], backend);
            const docTargets = targets[r].slice(start, start + n);
            const count = docTargets.filter((t) => t !== -100).length;
            const out = m.forward(ids, { targets: int([docTargets], backend) });
            const at = start;
            pending.push(
              (async () => {
                aloneLogits.push([r, at, at + n, (await out.logits.data()) as Float32Array]);
              })(),
            );
            if (count > 0) {
              const weighted = out.loss!.mul(count / valid);
              backward(weighted);
              pending.push(
                weighted.item().then((v) => {
                  aloneLoss += v;
                }),
              );
            }
            start += n;
          }
        });
      });
      await Promise.all(pending);
      for (const [r, start, end, want] of aloneLogits) {
        const got = await logitsOf(packedLogits!, r, start, end);
        expect(maxAbsDiff(got, want), `row ${r} tokens ${start}…${end - 1}`).toBeLessThan(tol);
      }
      expect(Math.abs(packedLoss - aloneLoss)).toBeLessThan(tol);
      expectGradsClose(packed, alone, tol);
      m.dispose();
    });

    test('a padded batch equals its rows run alone (left and right padding)', async () => {
      const m = model(family, backend);
      const T = 12;
      // row 0: 4 pad tokens on the left; row 1: 3 on the right
      const pads = [
        [4, 0],
        [0, 3],
      ];
      const real = pads.map(([l, r], i) => randomTokens(T - l - r, 256, 30 + i));
      const realTargets = pads.map(([l, r], i) => randomTokens(T - l - r, 256, 40 + i));
      const padRow = (values: number[], [l, r]: number[], fill: number) => [
        ...Array(l).fill(fill),
        ...values,
        ...Array(r).fill(fill),
      ];
      const ids = int(
        real.map((row, i) => padRow(row, pads[i], 0)),
        backend,
      );
      const targets = int(
        realTargets.map((row, i) => padRow(row, pads[i], -100)),
        backend,
      );
      const padding = tensor(
        pads.map(([l, r]) => Array.from({ length: T }, (_, t) => (t < l || t >= T - r ? 1 : 0))),
        { dtype: 'bool', backend },
      );
      const valid = real.reduce((n, row) => n + row.length, 0);
      let batchLogits: Tensor | undefined;
      const batched = await gradsAfter(m, () => {
        const out = m.forward(ids, { targets, padding });
        backward(out.loss!);
        batchLogits = out.logits;
      });
      const rowLogits: Float32Array[] = [];
      const alone = await gradsAfter(m, () => {
        real.forEach((row, i) => {
          const out = m.forward(int([row], backend), { targets: int([realTargets[i]], backend) });
          backward(out.loss!.mul(row.length / valid));
          rowLogits.push(out.logits as unknown as Float32Array);
        });
      });
      for (const [i, [l, r]] of pads.entries()) {
        const got = await logitsOf(batchLogits!, i, l, T - r);
        const want = (await (rowLogits[i] as unknown as Tensor).data()) as Float32Array;
        expect(maxAbsDiff(got, want), `row ${i}`).toBeLessThan(tol);
      }
      expectGradsClose(batched, alone, tol);
      m.dispose();
    });

    test('left-padded prompts prefilled into the KV cache and decoded equal each row alone', async () => {
      const m = model(family, backend);
      const prompts = [randomTokens(3, 256, 50), randomTokens(7, 256, 51), randomTokens(5, 256, 52)];
      const steps = [randomTokens(4, 256, 60), randomTokens(4, 256, 61), randomTokens(4, 256, 62)];
      const P = 7;
      const got = noGrad(() => {
        const cache = m.createCache(3);
        const padded = prompts.map((p) => [...Array(P - p.length).fill(0), ...p]);
        const padding = tensor(
          prompts.map((p) => Array.from({ length: P }, (_, t) => (t < P - p.length ? 1 : 0))),
          { dtype: 'bool', backend },
        );
        const out = [m.forwardCached(int(padded, backend), cache, { padding })];
        for (let s = 0; s < 4; s++)
          out.push(
            m.forwardCached(
              int(
                steps.map((row) => [row[s]]),
                backend,
              ),
              cache,
            ),
          );
        cache.dispose();
        return out;
      });
      for (let r = 0; r < 3; r++) {
        // the row alone: a full forward over prompt + decoded tokens, logits at each decode point
        const sequence = [...prompts[r], ...steps[r]];
        const full = noGrad(() => m.forward(int([sequence], backend)).logits);
        for (let s = 0; s <= 4; s++) {
          const at = prompts[r].length - 1 + s;
          const want = await logitsOf(full, 0, at, at + 1);
          const mine = (await got[s].slice(0, r, r + 1).data()) as Float32Array;
          expect(maxAbsDiff(mine, want), `row ${r} step ${s}`).toBeLessThan(tol);
        }
      }
      expect(() =>
        noGrad(() => {
          const cache = m.createCache(1);
          try {
            m.forwardCached(int([[1, 2]], backend), cache);
            m.forwardCached(int([[3]], backend), cache, {
              padding: tensor([[0]], { dtype: 'bool', backend }),
            });
          } finally {
            cache.dispose();
          }
        }),
      ).toThrow(/with the prefill/);
      m.dispose();
    });

    test('explicit positions equal the default ones of a packed row', async () => {
      const m = model(family, backend);
      const tokens = [randomTokens(10, 256, 70)];
      const segments = [[0, 0, 0, 0, 1, 1, 1, 2, 2, 2]];
      const positions = [[0, 1, 2, 3, 0, 1, 2, 0, 1, 2]];
      const a = noGrad(() => m.forward(int(tokens, backend), { segments: int(segments, backend) }).logits);
      const b = noGrad(
        () =>
          m.forward(int(tokens, backend), {
            segments: int(segments, backend),
            positions: int(positions, backend),
          }).logits,
      );
      expect(maxAbsDiff(await a.data(), await b.data())).toBe(0);
      // other relative positions inside a document change the logits (RoPE sees only those)
      const shifted = noGrad(
        () =>
          m.forward(int(tokens, backend), {
            segments: int(segments, backend),
            positions: int([positions[0].map((p, i) => (i === 2 ? p + 3 : p))], backend),
          }).logits,
      );
      expect(maxAbsDiff(await a.data(), await shifted.data())).toBeGreaterThan(1e-3);
      m.dispose();
    });
  });
});

test('bad per-token inputs are refused with the expected shape and dtype', () => {
  const m = model('gpt2', cpu);
  const ids = int([[1, 2, 3]], cpu);
  expect(() => m.forward(ids, { segments: tensor([[0, 0, 1]]) })).toThrow(
    /segments must be int32 \[1,3\] like ids, got float32/,
  );
  expect(() => m.forward(ids, { positions: int([[0, 1]], cpu) })).toThrow(/positions must be int32 \[1,3\]/);
  expect(() => m.forward(ids, { padding: tensor([[0, 0, 1]]) })).toThrow(/padding must be bool or int32/);
  expect(() => m.forward(ids, { targets: int([[1, 2]], cpu) })).toThrow(
    /use -100 for positions without a target/,
  );
  m.dispose();
});

/** A GELU MLP that reports the token mask it is given, to see what the model passes. */
class MaskProbe extends GeluMLP {
  override forward(x: Tensor, context?: FeedForwardContext): Tensor {
    if (context?.tokenMask) context.reportMetric('tokenMask', context.tokenMask);
    return super.forward(x);
  }
}
registerFeedForward('mask-probe-test', { create: (_, d) => new MaskProbe(d.dModel, d.dFF, d) });

test('feed-forward modules are told which tokens are padding', async () => {
  const m = new GPT({ ...GPT.config('gpt2-tiny'), nLayers: 1, feedForward: { kind: 'mask-probe-test' } });
  const ids = int([[5, 6, 7, 8]], cpu);
  const plain = noGrad(() => m.forward(ids));
  expect(Object.keys(plain.metrics)).toEqual([]); // every token is real: no mask
  const padding = tensor([[1, 0, 0, 1]], { dtype: 'bool', backend: cpu });
  const out = noGrad(() => m.forward(ids, { padding }));
  expect(await out.metrics['blocks.0.mlp.tokenMask'].toArray()).toEqual([[0, 1, 1, 0]]);
  m.dispose();
});
