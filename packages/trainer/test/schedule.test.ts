import { describe, expect, it } from 'vitest';
import { constantSchedule, cosineSchedule, createSchedule, linearSchedule } from '../src/index.js';

describe('learning-rate schedules', () => {
  it('constant: warmup then flat', () => {
    const lr = constantSchedule({ lr: 0.01, warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 100].map(lr)).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
    expect(constantSchedule({ lr: 3e-4 })(0)).toBe(3e-4);
  });

  it('cosine: warmup to maxLr, half-cosine to minLr at totalSteps, then minLr', () => {
    const lr = cosineSchedule({ maxLr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 });
    expect(lr(0)).toBeCloseTo(1e-4, 15);
    expect(lr(9)).toBeCloseTo(1e-3, 15);
    expect(lr(10)).toBeCloseTo(1e-3, 15);
    expect(lr(60)).toBeCloseTo(5.5e-4, 15); // halfway: the midpoint of max and min
    expect(lr(110)).toBeCloseTo(1e-4, 15);
    expect(lr(10_000)).toBeCloseTo(1e-4, 15);
    for (let s = 10; s < 110; s++) expect(lr(s + 1)).toBeLessThanOrEqual(lr(s));
  });

  it('linear: warmup then straight-line decay', () => {
    const lr = linearSchedule({ maxLr: 1, minLr: 0, warmupSteps: 2, totalSteps: 6 });
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(lr)).toEqual([0.5, 1, 1, 0.75, 0.5, 0.25, 0, 0]);
  });

  it('createSchedule builds from JSON config', () => {
    const config = JSON.parse('{"kind":"cosine","maxLr":0.002,"totalSteps":100}');
    expect(createSchedule(config)(0)).toBe(0.002);
    expect(createSchedule({ kind: 'linear', maxLr: 1, totalSteps: 4 })(2)).toBe(0.5);
    expect(createSchedule({ kind: 'constant', lr: 0.5 })(9)).toBe(0.5);
  });

  it('rejects invalid options with messages that say what to fix', () => {
    expect(() => cosineSchedule({ maxLr: 1e-4, minLr: 1e-3, totalSteps: 10 })).toThrow(
      /minLr \(0.001\) must not exceed maxLr \(0.0001\)/,
    );
    expect(() => cosineSchedule({ maxLr: 1, warmupSteps: 10, totalSteps: 10 })).toThrow(
      /warmupSteps \(10\) must be smaller than totalSteps \(10\)/,
    );
    expect(() => linearSchedule({ maxLr: -1, totalSteps: 10 })).toThrow(
      /linear schedule: maxLr must be a finite number ≥ 0, got -1/,
    );
    expect(() => constantSchedule({ lr: Number.NaN })).toThrow(/lr must be a finite number/);
    expect(() => constantSchedule({ lr: 1, warmupSteps: 1.5 })).toThrow(
      /warmupSteps must be an integer ≥ 0, got 1.5/,
    );
    expect(() => cosineSchedule({ maxLr: 1, totalSteps: 0 })).toThrow(
      /totalSteps must be an integer ≥ 1, got 0/,
    );
    expect(() => cosineSchedule({ maxLr: 1, totalSteps: 10, warmup: 5 } as never)).toThrow(
      /unknown option 'warmup'; the options are maxLr, minLr, warmupSteps, totalSteps/,
    );
    expect(() => createSchedule({ kind: 'step' } as never)).toThrow(
      /unknown schedule kind "step"; use 'constant', 'cosine' or 'linear'/,
    );
    expect(() => constantSchedule({ lr: 1 })(-1)).toThrow(/step must be a non-negative integer, got -1/);
  });
});
