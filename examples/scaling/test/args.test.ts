// The example's flags and the cost report (the library itself is tested in @kiln/scaling).
import { countGPT, estimateTraining } from '@kiln/scaling';
import { describe, expect, it } from 'vitest';
import { parseFlags, SWEEP_DEFAULTS } from '../src/args.js';
import { costReport } from '../src/cost.js';
import { LADDER, VERIFY_MODELS } from '../src/sweep.js';

describe('flags', () => {
  it('parses cost with numbers like 70e9, ignoring the `--` pnpm passes through', () => {
    expect(parseFlags(['--', 'cost', '--params', '70e9', '--tokens', '2e12', '--count', '6000'])).toEqual({
      command: 'cost',
      params: 70e9,
      tokens: 2e12,
      accelerator: 'a100-80gb',
      count: 6000,
      mfu: 0.4,
      price: undefined,
    });
    expect(parseFlags(['--help'])).toBe('help');
    expect(parseFlags([])).toBe('help');
  });

  it('parses fit and sweep with their defaults', () => {
    expect(parseFlags(['fit', '--quick'])).toEqual({
      command: 'fit',
      out: 'runs/scaling-fit',
      bootstrap: 200,
      quick: true,
    });
    expect(
      parseFlags(['sweep', '--budgets', '1e10,3e10', '--verify', '1e11', '--backend', 'cpu']),
    ).toMatchObject({
      command: 'sweep',
      budgets: [1e10, 3e10],
      verify: 1e11,
      backend: 'cpu',
      out: 'runs/scaling',
    });
    expect(parseFlags(['sweep'])).toMatchObject({
      budgets: SWEEP_DEFAULTS.budgets,
      verify: SWEEP_DEFAULTS.verify,
    });
  });

  it('rejects bad commands and flags with the usage text', () => {
    expect(() => parseFlags(['price'])).toThrow(/unknown command 'price'[\s\S]*usage:/);
    expect(() => parseFlags(['cost', '--params', '70e9'])).toThrow(/needs --params and --tokens/);
    expect(() => parseFlags(['cost', '--params', 'big', '--tokens', '1'])).toThrow(
      /--params must be a positive number/,
    );
    expect(() => parseFlags(['cost', '--params', '1', '--tokens', '1', '--mfu', '2'])).toThrow(
      /--mfu .* at most 1/,
    );
    expect(() => parseFlags(['sweep', '--verify', '1e9'])).toThrow(/--verify .* must be above every budget/);
    expect(() => parseFlags(['sweep', '--backend', 'gpu'])).toThrow(/--backend must be/);
    expect(() => parseFlags(['fit', '--bogus'])).toThrow(/Unknown option '--bogus'/);
  });
});

describe('cost report', () => {
  it("prints the run's numbers and the compute-optimal model under each law", () => {
    const e = estimateTraining({
      params: 70e9,
      tokens: 2e12,
      accelerator: 'a100-80gb',
      count: 6000,
      mfu: 0.4,
    });
    const text = costReport(e).join('\n');
    expect(text).toContain('6000 × NVIDIA A100 80GB SXM');
    expect(text).toContain(`${e.days.toFixed(1)} days`);
    expect(text).toContain('140 GB at 2 bytes/parameter');
    expect(text).toMatch(/Kaplan[\s\S]*Chinchilla[\s\S]*Epoch/);
  });
});

describe('the sweep ladder', () => {
  it('spans 13k to 84k parameters, and the verification models go beyond it', () => {
    const sizes = LADDER.map((c) => countGPT(c).totalParams);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(sizes[0]).toBeLessThan(20_000);
    expect(Math.max(...VERIFY_MODELS.map((c) => countGPT(c).totalParams))).toBeGreaterThan(sizes.at(-1)!);
  });
});
