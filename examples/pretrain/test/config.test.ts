// The example's flags and config merging (the training itself is tested in @kiln/trainer).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTrainConfig } from '@kiln/trainer';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../src/args.js';
import { DEFAULT_CONFIG, loadConfig, withSteps } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-pretrain-config-'));

describe('flags', () => {
  it('parses the flags, ignoring the `--` pnpm passes through', () => {
    expect(parseFlags(['--', '--steps', '50', '--backend', 'cpu', '--resume'])).toEqual({
      config: undefined,
      resume: true,
      backend: 'cpu',
      steps: 50,
      out: 'runs/pretrain',
      initFrom: undefined,
    });
    expect(parseFlags(['--help'])).toBe('help');
    expect(parseFlags(['--precision', 'mixed-float16'])).toMatchObject({ precision: 'mixed-float16' });
  });

  it('rejects bad flags with the usage text', () => {
    expect(() => parseFlags(['--stpes', '5'])).toThrow(/Unknown option '--stpes'[\s\S]*usage:/);
    expect(() => parseFlags(['--backend', 'gpu'])).toThrow(/--backend must be cpu, webgpu or auto/);
    expect(() => parseFlags(['--steps', '0'])).toThrow(/--steps must be a positive integer/);
    expect(() => parseFlags(['--precision', 'fp16'])).toThrow(
      /--precision must be float32 or mixed-float16, got 'fp16'/,
    );
  });
});

describe('config', () => {
  it('the default config is a valid training config', () => {
    const train = resolveTrainConfig(DEFAULT_CONFIG.train);
    expect(train.steps * train.batchSize * DEFAULT_CONFIG.model.contextLength).toBe(128_000);
  });

  it('merges a file over the defaults section by section', async () => {
    const path = join(dir, 'c.json');
    writeFileSync(path, JSON.stringify({ model: { nLayers: 4 }, train: { steps: 10 } }));
    const config = await loadConfig(path);
    expect(config.model).toEqual({ ...DEFAULT_CONFIG.model, nLayers: 4 });
    expect(config.train.steps).toBe(10);
    expect(config.train.batchSize).toBe(DEFAULT_CONFIG.train.batchSize);
    writeFileSync(path, JSON.stringify({ modle: {} }));
    await expect(loadConfig(path)).rejects.toThrow(/unknown section\(s\) modle/);
  });

  it('--steps shortens the schedule and its warmup with the run', () => {
    const config = withSteps(DEFAULT_CONFIG, 50);
    expect(config.train.steps).toBe(50);
    expect(config.train.schedule).toEqual({
      kind: 'cosine',
      maxLr: 1e-2,
      minLr: 1e-3,
      warmupSteps: 5,
      totalSteps: 50,
    });
    expect(() => resolveTrainConfig(config.train)).not.toThrow();
  });
});
