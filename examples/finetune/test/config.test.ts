// The example's flags and config merging.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTrainConfig } from '@kiln/trainer';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../src/args.js';
import { DEFAULT_CONFIG, loadConfig, withSteps } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-finetune-config-'));

describe('flags', () => {
  it('parses the flags, ignoring the `--` pnpm passes through', () => {
    expect(parseFlags(['--', '--steps', '50', '--backend', 'cpu', '--fresh', '--pretrain'])).toEqual({
      config: undefined,
      backend: 'cpu',
      steps: 50,
      base: 'runs/pretrain',
      pretrain: true,
      out: 'runs/finetune',
      fresh: true,
    });
    expect(parseFlags(['--help'])).toBe('help');
  });

  it('rejects bad flags with the usage text', () => {
    expect(() => parseFlags(['--stpes', '5'])).toThrow(/Unknown option '--stpes'[\s\S]*usage:/);
    expect(() => parseFlags(['--backend', 'gpu'])).toThrow(/--backend must be cpu, webgpu or auto/);
    expect(() => parseFlags(['--steps', '0'])).toThrow(/--steps must be a positive integer/);
  });
});

describe('config', () => {
  it('the default runs are valid training configs', () => {
    expect(() => resolveTrainConfig(DEFAULT_CONFIG.full.train)).not.toThrow();
    expect(() => resolveTrainConfig(DEFAULT_CONFIG.lora.train)).not.toThrow();
  });

  it('merges a file over the defaults key by key, train sections one level deeper', async () => {
    const path = join(dir, 'c.json');
    writeFileSync(
      path,
      JSON.stringify({ lora: { rank: 16, train: { steps: 10 } }, data: { trainExamples: 99 } }),
    );
    const config = await loadConfig(path);
    expect(config.lora.rank).toBe(16);
    expect(config.lora.alpha).toBe(DEFAULT_CONFIG.lora.alpha);
    expect(config.lora.train).toEqual({ ...DEFAULT_CONFIG.lora.train, steps: 10 });
    expect(config.full).toEqual(DEFAULT_CONFIG.full);
    expect(config.data.trainExamples).toBe(99);
    writeFileSync(path, JSON.stringify({ loar: {} }));
    await expect(loadConfig(path)).rejects.toThrow(/unknown section 'loar'/);
    writeFileSync(path, JSON.stringify({ lora: { rnak: 4 } }));
    await expect(loadConfig(path)).rejects.toThrow(/section 'lora': unknown key 'rnak'/);
  });

  it('--steps shortens both runs, their schedules and their warmup', () => {
    const config = withSteps(DEFAULT_CONFIG, 50);
    for (const run of [config.full, config.lora]) {
      const train = resolveTrainConfig(run.train);
      expect(train.steps).toBe(50);
      expect(train.evalInterval).toBe(50);
      expect(train.schedule).toMatchObject({ totalSteps: 50, warmupSteps: 5 });
    }
    expect(DEFAULT_CONFIG.full.train.steps).toBe(1500); // the default is left alone
  });
});
