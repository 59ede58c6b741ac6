// The side-by-side report printed at the end of a run.
import { formatRate } from '@kiln/trainer';
import type { Summary } from './run.js';

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

/** Prints the summary as a table (base, full, LoRA) and a few held-out conversations. */
export function printSummary(summary: Summary, log: (line?: string) => void): void {
  const { base, full, lora, commonest } = summary;
  const tasks = summary.data.tasks;
  type Row = [string, string, string, string, string];
  const rows: Row[] = [
    ['', 'commonest answer', 'base', 'full fine-tune', `LoRA r=${lora.rank}`],
    [
      'held-out accuracy',
      percent(commonest.accuracy),
      percent(base.accuracy),
      percent(full.accuracy),
      percent(lora.accuracy),
    ],
    ...tasks.map(
      (t): Row => [
        `  ${t}`,
        `${percent(commonest.byTask[t] ?? 0)} (${JSON.stringify(commonest.answers[t])})`,
        percent(base.byTask[t] ?? 0),
        percent(full.byTask[t] ?? 0),
        percent(lora.byTask[t] ?? 0),
      ],
    ),
    ['assistant-token loss', '', base.loss.toFixed(3), full.loss.toFixed(3), lora.loss.toFixed(3)],
    ['trainable parameters', '', '—', String(full.trainableParams), String(lora.trainableParams)],
    ['optimizer state', '', '—', kib(full.optimizerBytes), kib(lora.optimizerBytes)],
    ['training tokens/s', '', '—', formatRate(full.tokensPerSecond), formatRate(lora.tokensPerSecond)],
    ['training time', '', '—', `${full.trainSeconds.toFixed(0)} s`, `${lora.trainSeconds.toFixed(0)} s`],
  ];
  const widths = [0, 1, 2, 3, 4].map((c) => Math.max(...rows.map((r) => r[c].length)));
  log();
  for (const r of rows)
    log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   '));
  log();
  log('held-out conversations (user → expected | base | full | LoRA):');
  for (const s of summary.samples) {
    log(
      `  ${s.prompt} → ${JSON.stringify(s.reference)} | ${JSON.stringify(s.base)} | ${JSON.stringify(s.full)} | ${JSON.stringify(s.lora)}`,
    );
  }
}
