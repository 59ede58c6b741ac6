/**
 * The balancing terms on their own: the Switch loss is α when balanced and α·E when collapsed,
 * padding is left out; the z-loss; and the bias step moves each expert's selection bias by γ
 * against its load, on cpu and webgpu, changing the selection but not the gate weights.
 */
import { noGrad } from '@kiln/autograd';
import { type Backend, randn, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import { MoE, routerZLoss, switchAuxLoss, updateSelectionBias } from '../src/index.js';
import { initCpu, tryWebgpu } from './helpers.js';

const cpu = await initCpu();
const gpu = await tryWebgpu();

describe.each([
  ['cpu', cpu],
  ['webgpu', gpu],
] as [string, Backend | null][])('balancing on %s', (_name, backend) => {
  test.skipIf(!backend)('Switch loss: α when balanced, α·E when collapsed, padding excluded', async () => {
    const b = { backend: backend! };
    const uniform = tensor(
      [
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
      ],
      b,
    );
    expect(await switchAuxLoss(uniform, tensor([1, 1, 1, 1], b), null, 2, 0.1, false).item()).toBeCloseTo(
      0.1,
      6,
    );
    const collapsed = tensor(
      [
        [1, 0, 0, 0],
        [1, 0, 0, 0],
      ],
      b,
    );
    expect(await switchAuxLoss(collapsed, tensor([2, 0, 0, 0], b), null, 1, 0.1, false).item()).toBeCloseTo(
      0.4,
      6,
    );
    // the second token is padding: only the first counts (its probabilities and its one pair)
    const mixed = tensor(
      [
        [1, 0, 0, 0],
        [0, 0, 0, 1],
      ],
      b,
    );
    const mask = tensor([1, 0], b);
    expect(await switchAuxLoss(mixed, tensor([1, 0, 0, 0], b), mask, 1, 0.1, false).item()).toBeCloseTo(
      0.4,
      6,
    );
    // z-loss: logsumexp of [0, 0] is ln 2
    expect(await routerZLoss(tensor([[0, 0]], b), null, 2).item()).toBeCloseTo(2 * Math.LN2 ** 2, 5);
  });

  test.skipIf(!backend)('bias step: ±γ against the load; selection changes, gates do not', async () => {
    const bias = tensor([0, 0, 0, 0], { backend: backend! });
    updateSelectionBias(bias, tensor([10, 2, 2, 2], { backend: backend! }), 0.5);
    expect(await bias.toArray()).toEqual([-0.5, 0.5, 0.5, 0.5]);

    const moe = new MoE(
      8,
      { experts: 4, topK: 1, expertDFF: 4, balancing: { biasUpdateRate: 1 } },
      { backend: backend! },
    );
    const x = randn([6, 8], { backend: backend! });
    // a bias that pushes every token to expert 3: the selection follows it, the gate stays the
    // unbiased softmax score
    noGrad(() => moe.router.selectionBias!.assign(tensor([-5, -5, -5, 5], { backend: backend! })));
    const after = noGrad(() => moe.router.route(x));
    expect(((await after.experts.toArray()) as number[][]).flat()).toEqual([3, 3, 3, 3, 3, 3]);
    const scores = (await after.scores.toArray()) as number[][];
    const gates = ((await after.gates.toArray()) as number[][]).flat();
    // k = 1 softmax without renormalisation: the gate is the unbiased probability of expert 3
    gates.forEach((g, n) => {
      expect(g).toBeCloseTo(scores[n][3], 6);
    });
    moe.dispose();
  });
});
