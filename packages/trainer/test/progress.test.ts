import { describe, expect, it } from 'vitest';
import { formatDuration, formatRate, isCI, ProgressReporter, type ProgressStream } from '../src/index.js';

/** A fake stream that records writes, and a manual clock. */
function harness(options: { isTTY?: boolean; columns?: number } = {}) {
  const writes: string[] = [];
  const stream: ProgressStream = { write: (text) => writes.push(text), ...options };
  let time = 0;
  return {
    writes,
    stream,
    now: () => time,
    advance: (ms: number) => {
      time += ms;
    },
  };
}

describe('ProgressReporter', () => {
  it('prints plain lines every N steps (and the first and last) when CI is set', () => {
    const h = harness({ isTTY: true });
    const progress = new ProgressReporter({
      totalSteps: 25,
      stream: h.stream,
      now: h.now,
      env: { CI: 'true' },
      lineEvery: 10,
    });
    expect(progress.mode).toBe('lines');
    for (let step = 1; step <= 25; step++) {
      h.advance(100); // 100 ms per step of 1000 tokens
      progress.update({ step, loss: 4 - step / 10, tokens: step * 1000, lr: 3e-4 });
    }
    progress.finish();
    expect(h.writes).toEqual([
      'step 1/25 | loss 3.9000 | lr 3.00e-4 | elapsed 0:00 | eta --:--\n',
      'step 10/25 | loss 3.0000 | lr 3.00e-4 | 10.0k tok/s | elapsed 0:01 | eta 0:02\n',
      'step 20/25 | loss 2.0000 | lr 3.00e-4 | 10.0k tok/s | elapsed 0:02 | eta 0:01\n',
      'step 25/25 | loss 1.5000 | lr 3.00e-4 | 10.0k tok/s | elapsed 0:03 | eta 0:00\n',
    ]);
  });

  it('uses lines when the stream is not a TTY, even without CI', () => {
    const h = harness({ isTTY: false });
    expect(new ProgressReporter({ totalSteps: 5, stream: h.stream, env: {} }).mode).toBe('lines');
    expect(
      new ProgressReporter({ totalSteps: 5, stream: { ...h.stream, isTTY: true }, env: { CI: 'false' } })
        .mode,
    ).toBe('bar');
  });

  it('redraws one bar line with \\r in a TTY, throttled, always drawing the last step', () => {
    const h = harness({ isTTY: true, columns: 120 });
    const progress = new ProgressReporter({
      totalSteps: 10,
      stream: h.stream,
      now: h.now,
      env: {},
      redrawIntervalMs: 100,
    });
    expect(progress.mode).toBe('bar');
    for (let step = 1; step <= 10; step++) {
      h.advance(40);
      progress.update({ step, loss: 2.5, tokens: step * 512 });
    }
    progress.finish();
    // Drawn at step 1 (t=40), 4 (t=160), 7 (t=280), 10 (last), then a newline.
    expect(h.writes.length).toBe(5);
    expect(h.writes.every((w, i) => (i < 4 ? w.startsWith('\r') && w.endsWith('\x1b[K') : w === '\n'))).toBe(
      true,
    );
    expect(h.writes[1]).toContain(' 40% step 4/10 | loss 2.5000 | 12.8k tok/s | elapsed 0:00 | eta 0:00');
    expect(h.writes[3]).toMatch(/^\r\[#{24}\] 100% step 10\/10/);
    expect(h.writes[2]).toMatch(/^\r\[#{17}-{7}\] {2}70% step 7\/10/);
  });

  it('keeps the bar within the terminal width', () => {
    const h = harness({ isTTY: true, columns: 60 });
    const progress = new ProgressReporter({ totalSteps: 100, stream: h.stream, now: h.now, env: {} });
    progress.update({ step: 1, loss: 3.21, tokens: 100, fields: { 'val loss': 3.5 } });
    const line = h.writes[0].slice(1, -3);
    expect(line.length).toBeLessThan(60);
    const narrow = harness({ isTTY: true, columns: 30 });
    new ProgressReporter({ totalSteps: 100, stream: narrow.stream, now: narrow.now, env: {} }).update({
      step: 1,
      loss: 3,
    });
    expect(narrow.writes[0].slice(1, -3).length).toBeLessThan(30);
  });

  it('prints log messages above the bar and redraws it', () => {
    const h = harness({ isTTY: true });
    const progress = new ProgressReporter({ totalSteps: 10, stream: h.stream, now: h.now, env: {} });
    progress.update({ step: 1, loss: 3 });
    progress.log('step 1: val loss 3.1');
    expect(h.writes[1]).toBe(`\r\x1b[Kstep 1: val loss 3.1\n${h.writes[0].slice(1, -3)}`);
    const lines = harness();
    new ProgressReporter({ totalSteps: 10, stream: lines.stream, env: { CI: '1' } }).log('hello');
    expect(lines.writes).toEqual(['hello\n']);
  });

  it('validates its options', () => {
    const h = harness();
    expect(() => new ProgressReporter({ totalSteps: 0, stream: h.stream })).toThrow(
      /totalSteps must be a positive integer, got 0/,
    );
    expect(() => new ProgressReporter({ totalSteps: 5, stream: h.stream, lineEvery: 0 })).toThrow(
      /lineEvery must be a positive integer/,
    );
    expect(() => new ProgressReporter({ totalSteps: 5, stream: h.stream, mode: 'fancy' as never })).toThrow(
      /mode must be 'auto', 'bar' or 'lines'/,
    );
  });
});

describe('formatting helpers', () => {
  it('formats durations, rates and CI detection', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(61_000)).toBe('1:01');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(Number.NaN)).toBe('--:--');
    expect(formatRate(950)).toBe('950');
    expect(formatRate(12_345)).toBe('12.3k');
    expect(formatRate(4_560_000)).toBe('4.56M');
    expect(isCI({ CI: 'true' })).toBe(true);
    expect(isCI({ CI: '0' })).toBe(false);
    expect(isCI({})).toBe(false);
  });
});
