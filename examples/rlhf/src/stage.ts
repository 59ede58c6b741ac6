// Stages record their config when they start and write `result.json` last, as in
// examples/finetune: a directory with both, for the same config, is reused; one of another
// config is started over; --fresh removes them first.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@kiln/tensor/node';

const FILES = { result: 'result.json', config: 'stage-config.json' } as const;

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The result of a finished stage run with `config`, or undefined after preparing `dir` for a
 * new run. What an interrupted run of the same config left is kept when `resumable` (the
 * Trainer-based stages, GRPO and PPO resume from their checkpoints).
 */
export async function openStage<R>(dir: string, config: unknown, resumable = false): Promise<R | undefined> {
  const same = JSON.stringify(await readJson(join(dir, FILES.config))) === JSON.stringify(config);
  if (same) {
    const result = await readJson(join(dir, FILES.result));
    if (result !== undefined) return result as R;
  }
  if (!(same && resumable)) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  return undefined;
}

/** Marks a stage finished with its result (written last, atomically). */
export async function finishStage(dir: string, result: unknown): Promise<void> {
  await writeFileAtomic(join(dir, FILES.result), `${JSON.stringify(result, null, 2)}\n`);
}
