import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addDispatchHook,
  init,
  keep,
  memory,
  type OpRecord,
  ones,
  scope,
  setLeakDetection,
  tensor,
  zeros,
} from '../src/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const live = () => memory().liveTensors;

describe('lifetimes', () => {
  it('dispose frees storage once every view is disposed; use after dispose throws', async () => {
    const before = memory().backends.cpu.allocatedBytes;
    const t = zeros([256]);
    const v = t.reshape([16, 16]);
    t.dispose();
    expect(memory().backends.cpu.allocatedBytes).toBe(before + 1024);
    const s = v.sum();
    expect(await s.item()).toBe(0);
    s.dispose();
    v.dispose();
    expect(memory().backends.cpu.allocatedBytes).toBe(before);
    expect(() => t.add(1)).toThrow(/add: tensor #\d+ \[256\] float32 was used after dispose\(\)/);
  });

  it('using disposes at the end of the block', () => {
    const before = live();
    {
      using _t = ones([3]);
      expect(live()).toBe(before + 1);
    }
    expect(live()).toBe(before);
  });

  it('scope disposes intermediates, keeps what is returned or kept, across await', async () => {
    const before = live();
    let kept!: ReturnType<typeof ones>;
    const result = await scope(async () => {
      const a = ones([4]);
      const b = a.mul(3);
      await new Promise((r) => setTimeout(r, 5));
      kept = keep(b.add(1));
      const c = b.sum();
      await Promise.resolve();
      return { c, nested: [b.neg()] };
    });
    expect(live()).toBe(before + 3); // c, nested[0], kept
    expect(await result.c.item()).toBe(12);
    expect(await kept.toArray()).toEqual([4, 4, 4, 4]);
    result.c.dispose();
    result.nested[0].dispose();
    kept.dispose();
    expect(live()).toBe(before);
  });

  it('concurrent async scopes do not dispose each other’s tensors', async () => {
    const before = live();
    const run = (v: number, delay: number) =>
      scope(async () => {
        const a = tensor([v]);
        await new Promise((r) => setTimeout(r, delay));
        const b = a.mul(2);
        await new Promise((r) => setTimeout(r, delay));
        return b;
      });
    const [x, y] = await Promise.all([run(1, 10), run(2, 3)]);
    expect(await x.item()).toBe(2);
    expect(await y.item()).toBe(4);
    x.dispose();
    y.dispose();
    expect(live()).toBe(before);
  });

  it('a throwing scope still disposes what it created', () => {
    const before = live();
    expect(() =>
      scope(() => {
        ones([2]).add(1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toBe(before);
  });

  it('leak detection reports tensors collected without dispose, naming the creation site', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const reports: { description: string; createdAt?: string }[] = [];
    setLeakDetection(true, (r) => reports.push(r));
    (function leak() {
      tensor([1, 2, 3]);
    })();
    setLeakDetection(false);
    for (let i = 0; i < 10 && reports.length === 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(reports.length).toBeGreaterThan(0);
    expect(reports[0].description).toBe('[3] float32');
    expect(reports[0].createdAt).toMatch(/lifetime\.test\.ts/);
  });
});

describe('dispatch hooks', () => {
  it('see every user-level op once, with attrs, and not the ops inside fused/compound ops', () => {
    const seen: OpRecord[] = [];
    const remove = addDispatchHook((r) => seen.push(r));
    scope(() => {
      const x = ones([2, 3]);
      x.softmax(0);
      x.var(1); // composite: reports its inner ops
      x.sum([1], true);
    });
    remove();
    const names = seen.map((r) => r.op);
    expect(names).toContain('softmax');
    expect(names).not.toContain('var');
    expect(names).toContain('mean');
    expect(seen.find((r) => r.op === 'softmax')!.attrs).toEqual({ axis: 0 });
    expect(seen.filter((r) => r.op === 'sum').at(-1)!.attrs).toEqual({ axes: [1], keepDim: true });
  });
});
