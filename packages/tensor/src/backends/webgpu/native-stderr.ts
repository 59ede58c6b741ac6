/**
 * Dawn's two start-up warnings, filtered. On some drivers (Mesa's lavapipe among them) Dawn
 * prints, from native code straight to the process's stderr, while it lists adapters:
 *
 * ```text
 * Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
 * Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
 * ```
 *
 * They are about limits Kiln never requests (it uses no dynamic buffer offsets), nothing a user
 * can act on, and they appear on every start. They cannot be turned off (Dawn has no log-level
 * option, and requesting fewer limits does not help: they are printed before any request), and
 * being native they bypass `process.stderr`. So {@link withNativeStderrFiltered} points file
 * descriptor 2 at a temporary file for the one synchronous call that prints them
 * (`gpu.requestAdapter()`), then puts stderr back and re-prints every captured line except
 * these. Anything else Dawn says still reaches stderr. `KILN_DAWN_WARNINGS=1` turns the filter
 * off. Only on Linux and macOS under Node, and only when stderr can be reopened through
 * `/dev/fd/2` (a terminal, a file, a shell pipe; not a socket, which is what a Node parent's
 * `stdio: 'pipe'` gives a child), since Node has no `dup`; otherwise the call runs unfiltered.
 */

/** The lines dropped: Dawn clamping limits Kiln does not use. */
export const DAWN_LIMIT_NOISE =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

interface NodeFs {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  readFileSync(path: string, encoding: 'utf8'): string;
  writeSync(fd: number, text: string): number;
  unlinkSync(path: string): void;
}

interface NodeProcess {
  platform?: string;
  pid?: number;
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (name: string) => unknown;
}

/**
 * Runs `fn` (synchronous) with native writes to stderr captured, then writes the captured lines
 * that do not match `drop` to stderr. Runs `fn` plainly when capture is not possible here.
 */
export function withNativeStderrFiltered<T>(fn: () => T, drop: RegExp = DAWN_LIMIT_NOISE): T {
  const proc = (globalThis as { process?: NodeProcess }).process;
  const platform = proc?.platform;
  if ((platform !== 'linux' && platform !== 'darwin') || proc?.env?.KILN_DAWN_WARNINGS === '1') return fn();
  const fs = proc?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
  const os = proc?.getBuiltinModule?.('node:os') as { tmpdir(): string } | undefined;
  if (!fs || !os) return fn();
  const capturePath = `${os.tmpdir()}/kiln-dawn-stderr-${proc?.pid ?? 0}-${Math.random().toString(36).slice(2)}.txt`;
  let saved: number;
  try {
    saved = fs.openSync('/dev/fd/2', 'a'); // a second descriptor for whatever stderr is
  } catch {
    return fn(); // stderr closed, or a socket: leave it alone
  }
  let captured = false;
  try {
    fs.closeSync(2);
    const fd = fs.openSync(capturePath, 'w'); // the lowest free descriptor: 2
    captured = fd === 2;
    if (!captured) fs.closeSync(fd); // another thread took 2 first: give up capturing
  } catch {
    captured = false;
  }
  let result: T;
  try {
    result = fn();
  } finally {
    if (captured) fs.closeSync(2);
    restore(fs, saved);
  }
  if (captured) {
    let text = '';
    try {
      text = fs.readFileSync(capturePath, 'utf8');
      fs.unlinkSync(capturePath);
    } catch {
      // nothing captured to pass on
    }
    const kept = text.split('\n').filter((line) => line !== '' && !drop.test(line));
    if (kept.length > 0) fs.writeSync(2, `${kept.join('\n')}\n`);
  }
  return result;
}

/** Puts the saved stderr back on descriptor 2 (the lowest free one after 2 was closed). */
function restore(fs: NodeFs, saved: number): void {
  try {
    const fd = fs.openSync(`/dev/fd/${saved}`, 'a');
    if (fd !== 2) fs.closeSync(fd); // 2 was never closed (capture failed before it)
  } finally {
    fs.closeSync(saved);
  }
}
