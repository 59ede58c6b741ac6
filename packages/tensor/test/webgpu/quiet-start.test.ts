// A webgpu start prints nothing the user must act on: Dawn's two native warnings about
// dynamic-offset limits (lavapipe) are filtered (see native-stderr.ts), and anything else Dawn
// prints still gets through. Checked in a child process, since the warnings go to the process's
// stderr from native code.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipReason, suiteName } from './helpers.js';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const script = `
import { init, tensor } from '@kiln/tensor';
await init({ backend: 'webgpu', quiet: true });
console.log('sum', await tensor([1, 2, 3]).sum().item());
process.exit(0);
`;

/**
 * Runs the script with stderr going to a file, as a terminal or `2> log` would (a Node parent's
 * 'pipe' is a socket, which cannot be reopened, so the filter leaves it alone; see native-stderr.ts).
 */
function start(env: Record<string, string> = {}): { stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-quiet-'));
  const errPath = join(dir, 'stderr.txt');
  const errFd = openSync(errPath, 'w');
  try {
    const r = spawnSync(
      process.execPath,
      ['--conditions=@kiln/source', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: join(root, 'packages', 'tensor'),
        env: { ...process.env, ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', errFd],
        timeout: 60_000,
      },
    );
    return { stdout: r.stdout, stderr: readFileSync(errPath, 'utf8') };
  } finally {
    closeSync(errFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!!skipReason)(suiteName('webgpu start'), () => {
  it('prints no Dawn limit warnings, and still works', () => {
    const { stdout, stderr } = start();
    expect(stdout).toContain('sum 6');
    expect(stderr, stderr).not.toMatch(/artificially reduced/);
  });

  it('KILN_DAWN_WARNINGS=1 shows what Dawn prints (so the first test is not passing by luck)', () => {
    const { stdout, stderr } = start({ KILN_DAWN_WARNINGS: '1' });
    expect(stdout).toContain('sum 6');
    expect(stderr).toMatch(/artificially reduced/);
  });
});
