// Edge-case semantics that must agree across backends, checked against explicit expected values
// (PyTorch's behaviour where it defines one): NaN in argmax/argmin and truthiness, exact wrapping
// integer arithmetic, integer clamp bounds, and in-place assign from an overlapping view.
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, clamp, pow, tensor } from '../src/index.js';
import { cpu, gpu, shutdown } from './webgpu/helpers.js';

afterAll(shutdown);

const backends: [string, Backend | undefined][] = [
  ['cpu', cpu],
  ['webgpu', gpu],
];

describe.each(backends)('semantics on %s', (name, backend) => {
  const run = backend ? it : it.skip;
  const t = (data: number[] | number[][], dtype: 'float32' | 'int32' = 'float32') =>
    tensor(data, { backend, dtype });

  run('argmax/argmin: the first NaN wins, else the first extreme', async () => {
    expect(
      await t([[1, Number.NaN, 3, Number.NaN]])
        .argmax(1)
        .toArray(),
    ).toEqual([1]);
    expect(
      await t([[Number.NaN, 5, 7]])
        .argmin(1)
        .toArray(),
    ).toEqual([0]);
    expect(
      await t([[2, 9, 9, 1]])
        .argmax(1)
        .toArray(),
    ).toEqual([1]);
    expect(
      await t([[2, 9, 9, 1]])
        .argmin()
        .toArray(),
    ).toBe(3);
  });

  run('NaN is true when cast to bool and in logical ops', async () => {
    expect(await t([Number.NaN, 0, -2]).cast('bool').toArray()).toEqual([true, false, true]);
    expect(await t([Number.NaN, 0]).logicalNot().toArray()).toEqual([false, true]);
    expect(
      await t([Number.NaN, Number.NaN])
        .logicalAnd(t([1, 0]))
        .toArray(),
    ).toEqual([true, false]);
  });

  run('integer pow, square and prod wrap modulo 2^32 exactly', async () => {
    // 3^21 = 10460353203 = 2·2^32 + 1870418611
    expect(await pow(t([3, -3, 2, 5], 'int32'), t([21, 21, 31, -1], 'int32')).toArray()).toEqual([
      1870418611, -1870418611, -2147483648, 0,
    ]);
    // 100003^2 = 10000600009 ≡ 1410665417 (mod 2^32)
    expect(await t([100003], 'int32').square().toArray()).toEqual([1410665417]);
    expect(await t([100003, 100003], 'int32').prod().item()).toBe(1410665417);
  });

  run('integer clamp rejects fractional bounds; assign reads an overlapping source first', async () => {
    expect(() => clamp(t([1, 2], 'int32'), 0.5)).toThrow(/bound 0.5 is not an integer/);
    const x = t([
      [1, 2],
      [3, 4],
    ]);
    x.assign(x.T);
    expect(await x.toArray()).toEqual([
      [1, 3],
      [2, 4],
    ]);
  });
  void name;
});
