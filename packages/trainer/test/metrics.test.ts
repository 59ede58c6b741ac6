import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMetricsLine, MetricsWriter, parseMetricsJsonl, readMetrics } from '../src/node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-metrics-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JSONL format', () => {
  it('writes one object per line and null for non-finite numbers', () => {
    expect(formatMetricsLine({ step: 3, loss: 2.5, note: 'a\nb' })).toBe(
      '{"step":3,"loss":2.5,"note":"a\\nb"}\n',
    );
    expect(formatMetricsLine({ step: 4, loss: Number.NaN, lr: Number.POSITIVE_INFINITY })).toBe(
      '{"step":4,"loss":null,"lr":null}\n',
    );
    expect(() => formatMetricsLine({ step: 1.5 })).toThrow(/needs a non-negative integer 'step', got 1.5/);
    expect(() => formatMetricsLine({ loss: 1 } as never)).toThrow(/integer 'step'/);
  });

  it('parses lines, skips blanks, drops a torn last line and reports bad lines by number', () => {
    expect(parseMetricsJsonl('{"step":1}\n\n{"step":2,"loss":3}\n{"step":3,"lo')).toEqual([
      { step: 1 },
      { step: 2, loss: 3 },
    ]);
    expect(() => parseMetricsJsonl('{"step":1}\n{oops\n{"step":3}\n', 'm.jsonl')).toThrow(
      /m\.jsonl: line 2 is not valid JSON/,
    );
    expect(() => parseMetricsJsonl('[1,2]\n')).toThrow(/line 1 is not an object with an integer 'step'/);
  });
});

describe('MetricsWriter', () => {
  it('appends records in call order and reads them back', async () => {
    const path = join(dir, 'run.jsonl');
    const writer = await MetricsWriter.open(path);
    await Promise.all([1, 2, 3, 4, 5].map((step) => writer.write({ step, loss: 10 / step })));
    await writer.close();
    await writer.close(); // idempotent
    await expect(writer.write({ step: 6 })).rejects.toThrow(/write after close/);
    expect((await readMetrics(path)).map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    // Reopening appends.
    await using again = await MetricsWriter.open(path, { fsync: true });
    await again.write({ step: 6, valLoss: 1.25 });
    expect((await readMetrics(path)).at(-1)).toEqual({ step: 6, valLoss: 1.25 });
  });

  it('rejects invalid records synchronously at the call site', async () => {
    await using writer = await MetricsWriter.open(join(dir, 'bad.jsonl'));
    expect(() => writer.write({ step: -1 })).toThrow(/non-negative integer 'step'/);
  });

  it('repairs a torn last line and drops steps after a resume point', async () => {
    const path = join(dir, 'resume.jsonl');
    const writer = await MetricsWriter.open(path);
    for (let step = 1; step <= 10; step++) await writer.write({ step, loss: step });
    await writer.close();
    await appendFile(path, '{"step":11,"lo'); // a crash in the middle of a write

    const resumed = await MetricsWriter.open(path, { truncateAfterStep: 8 });
    await resumed.write({ step: 9, loss: 99 });
    await resumed.close();
    const records = await readMetrics(path);
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(records.at(-1)!.loss).toBe(99);
    expect((await readFile(path, 'utf8')).endsWith('\n')).toBe(true);

    await appendFile(path, '{"step":10,"lo');
    await (await MetricsWriter.open(path)).close();
    expect((await readFile(path, 'utf8')).split('\n').filter(Boolean).length).toBe(9);
  });
});
