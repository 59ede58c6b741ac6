// The training config: gpt.py-compatible defaults, the schedule decaying over the run, clear errors.
import { describe, expect, it } from 'vitest';
import { resolveTrainConfig, TRAIN_DEFAULTS } from '../src/index.js';

describe('resolveTrainConfig', () => {
  it('fills in the defaults and decays the default schedule over the run', () => {
    const c = resolveTrainConfig({ steps: 500 });
    expect(c.batchSize).toBe(TRAIN_DEFAULTS.batchSize);
    expect(c.schedule).toEqual({
      kind: 'cosine',
      maxLr: 6e-4,
      minLr: 6e-5,
      warmupSteps: 50,
      totalSteps: 500,
    });
    expect(resolveTrainConfig({ steps: 300, schedule: { kind: 'linear', maxLr: 1e-3 } }).schedule).toEqual({
      kind: 'linear',
      maxLr: 1e-3,
      totalSteps: 300,
    });
    expect(resolveTrainConfig({ schedule: { kind: 'constant', lr: 1e-3 } }).schedule).toEqual({
      kind: 'constant',
      lr: 1e-3,
    });
  });

  it('rejects unknown keys and bad values, naming them', () => {
    expect(() => resolveTrainConfig({ batchsize: 4 } as never)).toThrow(/unknown key\(s\) batchsize/);
    expect(() => resolveTrainConfig({ steps: 0 })).toThrow(/steps must be at least 1/);
    expect(() => resolveTrainConfig({ batchSize: 2.5 })).toThrow(/batchSize must be a non-negative integer/);
    expect(() => resolveTrainConfig({ gradClip: -1 })).toThrow(/gradClip/);
    expect(() => resolveTrainConfig({ betas: [0.9, 1.5] as [number, number] })).toThrow(/betas/);
    expect(() => resolveTrainConfig({ optimizer: 'adam' as never })).toThrow(
      /optimizer must be 'adamw' or 'sgd'/,
    );
    expect(() =>
      resolveTrainConfig({ steps: 10, schedule: { kind: 'cosine', maxLr: 1e-3, warmupSteps: 20 } }),
    ).toThrow(/invalid schedule: .*warmupSteps \(20\) must be smaller than totalSteps \(10\)/);
  });
});
