// Running measurements in child processes: each library (and each workload) gets a fresh
// process, so Dawn instances, buffer pools and compiled pipelines never mix between them.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';

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

/** Runs a TypeScript child with this process's Node flags (tsx loader, source condition). */
export function runNode<T>(script: string, args: string[], timeoutMs = 10 * 60_000): ChildOutcome<T> {
  const result = spawnSync(process.execPath, [...process.execArgv, script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: timeoutMs,
  });
  return parse<T>(`${script.split('/').at(-1)} ${args.join(' ')}`, result);
}

/** Runs a Python script with {@link PYTHON}. */
export function runPython<T>(script: string, args: string[], timeoutMs = 10 * 60_000): ChildOutcome<T> {
  const result = spawnSync(PYTHON, [script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: timeoutMs,
  });
  return parse<T>(`${script.split('/').at(-1)}`, result);
}

/** torch's version when {@link PYTHON} has it, else null. */
export function torchVersion(): string | null {
  const result = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}
