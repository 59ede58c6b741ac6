// Stages (the base's evaluation, full fine-tuning, LoRA) each record their config when they
// start and write `result.json` as their very last act: a directory with both, for the same
// config, is finished and is reused by the next run; one without a result holds at most an
// interrupted run (resumed from its checkpoints); one of another config is started over.
// --fresh removes the stage directories first.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@kiln/tensor/node';
import type { MetricsRecord, Optimizer } from '@kiln/trainer';

/** The file that marks a finished stage, and the one that records what a stage runs with. */
export const STAGE_FILES = { result: 'result.json', config: 'stage-config.json' } as const;

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Opens a stage's directory for `config`: returns the result of a finished run with the same
 * config; otherwise leaves what an interrupted run of the same config left (to resume from),
 * removes what a run of another config left, records `config`, and returns undefined.
 */
export async function openStage<R>(dir: string, config: unknown): Promise<R | undefined> {
  const same = JSON.stringify(await readJson(join(dir, STAGE_FILES.config))) === JSON.stringify(config);
  if (same) {
    const result = await readJson(join(dir, STAGE_FILES.result));
    if (result !== undefined) return result as R;
  } else {
    await clearStage(dir);
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, STAGE_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  return undefined;
}

/** Marks a stage finished with its result (written last, atomically). */
export async function finishStage(dir: string, result: unknown): Promise<void> {
  await writeFileAtomic(join(dir, STAGE_FILES.result), `${JSON.stringify(result, null, 2)}\n`);
}

/** Removes a stage's directory (its checkpoints, metrics and outputs). */
export async function clearStage(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

const FLOAT_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  float16: 2,
  int32: 4,
  uint32: 4,
  bool: 1,
};

/** Bytes held by an optimizer's state (AdamW: the two moments of each parameter it trains), counted from its tensors. */
export function optimizerBytes(optimizer: Optimizer): number {
  let bytes = 0;
  for (const t of Object.values(optimizer.stateDict().tensors)) bytes += t.size * FLOAT_BYTES[t.dtype];
  return bytes;
}

/** Median training throughput of a run's metrics log (the Trainer records it at each logged step, evaluation excluded). */
export function medianTokensPerSecond(records: readonly MetricsRecord[]): number {
  const rates = records
    .map((r) => r.tokensPerSecond)
    .filter((v): v is number => typeof v === 'number' && v > 0)
    .sort((a, b) => a - b);
  return rates.length === 0 ? Number.NaN : rates[Math.floor(rates.length / 2)];
}
