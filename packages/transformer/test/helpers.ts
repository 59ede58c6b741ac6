import { spawnSync } from 'node:child_process';
import { type Backend, init, initBackend, type Tensor, tensor } from '@kiln/tensor';

/** Makes the cpu backend the default (every test file calls this first) and returns it. */
export async function initCpu(): Promise<Backend> {
  await init({ backend: 'cpu', quiet: true });
  return initBackend('cpu');
}

/** The webgpu backend when it can be created here, else null (tests then skip). */
export async function tryWebgpu(): Promise<Backend | null> {
  try {
    return await initBackend('webgpu');
  } catch {
    return null;
  }
}

/** An int32 [rows.length, rows[0].length] tensor of token ids. */
export function ids(rows: number[][], backend?: Backend): Tensor {
  return tensor(rows, { dtype: 'int32', backend });
}

/** Largest |a − b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A seeded generator of small ints (mulberry32), for token sequences. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random token ids in [0, vocab). */
export function randomTokens(n: number, vocab: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * vocab));
}

/** A Python with torch: $KILN_PYTHON, else /usr/bin/python3, else python3 on PATH (found without importing torch). */
export function findTorchPython(): string | undefined {
  const probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)";
  for (const python of [process.env.KILN_PYTHON, '/usr/bin/python3', 'python3']) {
    if (python && spawnSync(python, ['-c', probe], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}
