// Running measurements in child processes: each library (and each workload) gets a fresh
// process, so Dawn instances, buffer pools and compiled pipelines never mix between them.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';

/** Python with torch: Debian's (`/usr/bin/python3`), or `KILN_PYTHON`. */
export const PYTHON = process.env.KILN_PYTHON ?? '/usr/bin/python3';

/** A child's parsed last line, or why there is none. */
export type ChildOutcome<T> =
  | { ok: true; value: T; loadAfter: number }
  | { ok: false; error: string; loadAfter: number };

function parse<T>(what: string, result: ReturnType<typeof spawnSync>): ChildOutcome<T> {
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const loadAfter = loadavg()[0];
  if (result.status !== 0 || !line.startsWith('{')) {
    // Dawn's harmless "artificially reduced" warnings are noise in an error report
    const tail = stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('artificially reduced'))
      .slice(-12)
      .join('\n');
    const why = result.error ? String(result.error) : `exit ${result.status ?? result.signal}`;
    return { ok: false, error: `${what} failed (${why}): ${tail || line}`.slice(0, 3000), loadAfter };
  }
  return { ok: true, value: JSON.parse(line) as T, loadAfter };
}

/**
 * Runs a TypeScript child with this process's Node flags (tsx loader, source condition); `env`
 * is added to this process's environment.
 */
export function runNode<T>(
  script: string,
  args: string[],
  timeoutMs = 10 * 60_000,
  env: Record<string, string> = {},
): ChildOutcome<T> {
  const result = spawnSync(process.execPath, [...process.execArgv, script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: timeoutMs,
    env: { ...process.env, ...env },
  });
  return parse<T>(`${script.split('/').at(-1)} ${args.join(' ')}`, result);
}

/**
 * OpenMP's default wait policy spins in barriers: on a 2-core machine that other processes also
 * load, a spinning thread takes the core the working one needs, and PyTorch (2 threads) ran a
 * training step 17× slower (4.5 s instead of 0.27 s) than with PASSIVE. PASSIVE is PyTorch at its
 * best on a shared machine; on an idle one the default may be a little faster.
 */
export const TORCH_ENV = { OMP_WAIT_POLICY: 'PASSIVE' };

/** Runs a Python script with {@link PYTHON}; `env` is added to this process's environment. */
export function runPython<T>(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 10 * 60_000,
): ChildOutcome<T> {
  const result = spawnSync(PYTHON, [script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: timeoutMs,
    env: { ...process.env, ...env },
  });
  return parse<T>(`${script.split('/').at(-1)}`, result);
}

/** torch's version when {@link PYTHON} has it, else null. */
export function torchVersion(): string | null {
  const result = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

/**
 * The code being measured: the commit, and the files under `paths` that differ from it (others
 * may be editing while a suite runs). Read-only git commands; null/empty when git is missing.
 */
export function gitRevision(paths: string[] = ['packages']): { commit: string | null; modified: string[] } {
  const git = (args: string[]) => {
    const r = spawnSync('git', args, { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8' });
    return r.status === 0 ? r.stdout : null;
  };
  const commit = git(['rev-parse', '--short', 'HEAD'])?.trim() ?? null;
  const status = git(['status', '--porcelain', '--', ...paths]) ?? '';
  const modified = status
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3));
  return { commit, modified };
}
