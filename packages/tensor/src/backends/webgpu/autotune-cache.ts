/**
 * Keeps matmul autotune results on disk (Node), so a shape class is measured once per adapter and
 * driver rather than once per process: on lavapipe the first step of a small GPT spends ~30 s
 * tuning, and every later run reads the rankings back in milliseconds.
 *
 * Where: `KILN_AUTOTUNE_CACHE` (a directory; `0` or `off` keeps results in memory only), else
 * `$XDG_CACHE_HOME/kiln/autotune`, else `~/.cache/kiln/autotune`. One JSON file per adapter key
 * (vendor, architecture, device and description, which names the driver and its version, plus
 * the kernel set), so a driver update or a new Kiln release with other kernels tunes afresh.
 * Deleting the directory is always safe. Browsers keep results in memory only.
 *
 * Node's modules are imported with computed specifiers, so browser bundles never see them.
 */
import { envVar } from './env.js';

/** A measured ranking: variants of a shape class, fastest first, with their ms. */
export type Rankings = Record<string, { variant: string; ms: number }[]>;

/** Bump when the file layout or the class key changes: old files are then ignored. */
const FORMAT = 1;

interface NodeModules {
  fs: typeof import('node:fs/promises');
  path: typeof import('node:path');
  os: typeof import('node:os');
}

async function nodeModules(): Promise<NodeModules | null> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (typeof proc?.versions?.node !== 'string') return null;
  const load = (name: string) => import(/* @vite-ignore */ name);
  try {
    const [fs, path, os] = await Promise.all([load('node:fs/promises'), load('node:path'), load('node:os')]);
    return { fs, path, os };
  } catch {
    return null;
  }
}

/** The cache directory in use, or `null` when results stay in memory (browsers, `KILN_AUTOTUNE_CACHE=0`). */
export async function autotuneCacheDir(): Promise<string | null> {
  const setting = envVar('KILN_AUTOTUNE_CACHE');
  if (setting === '0' || setting === 'off') return null;
  const node = await nodeModules();
  if (!node) return null;
  if (setting) return node.path.resolve(setting);
  const base = envVar('XDG_CACHE_HOME') || node.path.join(node.os.homedir(), '.cache');
  return node.path.join(base, 'kiln', 'autotune');
}

/** A short stable hash (FNV-1a, 32 bit) for file names. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The file holding the rankings of `adapterKey` in `dir`. */
function cacheFile(node: NodeModules, dir: string, adapterKey: string): string {
  const readable = adapterKey
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
  return node.path.join(dir, `${readable}-${hash(adapterKey)}.json`);
}

/** The stored rankings for `adapterKey`, or `{}` (no file, another format, unreadable: all mean "tune"). */
export async function loadRankings(adapterKey: string): Promise<Rankings> {
  const dir = await autotuneCacheDir();
  const node = dir && (await nodeModules());
  if (!dir || !node) return {};
  try {
    const stored = JSON.parse(await node.fs.readFile(cacheFile(node, dir, adapterKey), 'utf8'));
    if (stored?.format !== FORMAT || stored.adapter !== adapterKey || typeof stored.rankings !== 'object')
      return {};
    return stored.rankings as Rankings;
  } catch {
    return {};
  }
}

/**
 * Writes `rankings` for `adapterKey` (temporary file + rename, so a reader never sees half a
 * file). Failing to write (read-only home, full disk) only costs a re-tune next time: it is
 * reported once and otherwise ignored.
 */
export async function saveRankings(adapterKey: string, rankings: Rankings): Promise<void> {
  const dir = await autotuneCacheDir();
  const node = dir && (await nodeModules());
  if (!dir || !node) return;
  const file = cacheFile(node, dir, adapterKey);
  const temporary = `${file}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await node.fs.mkdir(dir, { recursive: true });
    const body = { format: FORMAT, adapter: adapterKey, written: new Date().toISOString(), rankings };
    await node.fs.writeFile(temporary, `${JSON.stringify(body, null, 1)}\n`);
    await node.fs.rename(temporary, file);
  } catch (error) {
    await node.fs.rm(temporary, { force: true }).catch(() => {});
    if (!warnedWrite) {
      warnedWrite = true;
      console.warn(
        `[kiln] could not save matmul autotune results in ${dir} (${(error as Error).message}); ` +
          'they will be measured again next run. Set KILN_AUTOTUNE_CACHE to a writable directory, or 0.',
      );
    }
  }
}

let warnedWrite = false;
