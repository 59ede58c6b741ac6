/**
 * gradCheck must catch wrong rules: each case swaps a rule for a subtly wrong one and expects
 * the check to fail (then restores it).
 */
import * as T from '@kiln/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { AutogradError, gradCheck, RULES, type Rule } from '../src/index.js';
import { sumTo } from '../src/rule-helpers.js';
import { initCpu, normal } from './helpers.js';

beforeAll(initCpu);

async function withRule<R>(op: string, rule: Rule, fn: () => Promise<R>): Promise<R> {
  const table = RULES as Record<string, Rule>;
  const saved = table[op];
  table[op] = rule;
  try {
    return await fn();
  } finally {
    table[op] = saved;
  }
}

describe('a wrong rule fails gradCheck', () => {
  test('sign flip in mul', async () => {
    const right = RULES.mul;
    const wrong: Rule = { ...right, backward: (c, g) => right.backward(c, g).map((t) => t?.neg() ?? null) };
    const result = await withRule('mul', wrong, () =>
      gradCheck((a, b) => a.mul(b), [normal([3], 1), normal([3], 2)], { raise: false }),
    );
    expect(result.ok).toBe(false);
    expect(result.failures.length).toBe(result.checked);
  });

  test('missing broadcast sum in add is reported with the op and shapes', async () => {
    const wrong: Rule = { backward: (_, g) => [g, g] };
    await expect(
      withRule('add', wrong, () => gradCheck((a, b) => a.add(b), [normal([2, 3], 1), normal([3], 2)])),
    ).rejects.toThrow(/gradient rule for 'add' returned \[2,3\] float32 for input 1 of \[3\] float32/);
  });

  test('a sum over the wrong axes (shape right, values wrong)', async () => {
    // sums the broadcast gradient over every axis, then spreads it back: right shape, wrong values
    const wrong: Rule = {
      backward: (c, g) => [sumTo(g, c.inputShapes[0]), g.sum().expand(c.inputShapes[1]).contiguous()],
    };
    const result = await withRule('add', wrong, () =>
      gradCheck((a, b) => a.add(b), [normal([2, 3], 1), normal([3], 2)], { raise: false }),
    );
    expect(result.ok).toBe(false);
  });

  test('a layerNorm rule that forgets eps is off by more than the tolerance', async () => {
    const right = RULES.layerNorm;
    const wrong: Rule = {
      ...right,
      backward: (c, g) => right.backward({ ...c, attrs: { ...c.attrs, eps: 0 } }, g),
    };
    const x = normal([2, 4], 3).mul(0.05); // small variance: eps matters
    const result = await withRule('layerNorm', wrong, () =>
      gradCheck((t) => T.layerNorm(t, null, null, { eps: 1e-3 }), [x], { raise: false }),
    );
    expect(result.ok).toBe(false);
  });

  test('gradCheck raises an AutogradError naming the element by default', async () => {
    const wrong: Rule = { saveOutputs: [0], backward: (c, g) => [g.mul(c.output(0)).mul(1.001)] };
    await expect(withRule('exp', wrong, () => gradCheck((x) => x.exp(), [normal([4], 5)]))).rejects.toThrow(
      AutogradError,
    );
    await expect(withRule('exp', wrong, () => gradCheck((x) => x.exp(), [normal([4], 5)]))).rejects.toThrow(
      /input 0 element \d+: analytic/,
    );
  });
});
