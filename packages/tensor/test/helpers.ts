import { spawnSync } from 'node:child_process';
import { type Backend, init, initBackend } from '../src/index.js';

/** Makes the cpu backend the default (the safetensors test files call this first) and returns it. */
export async function initCpu(): Promise<Backend> {
  await init({ backend: 'cpu', quiet: true });
  return initBackend('cpu');
}

/** A Python with torch: $KILN_PYTHON, else /usr/bin/python3, else python3 on PATH (found without importing torch). */
export function findTorchPython(): string | undefined {
  const probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)";
  for (const python of [process.env.KILN_PYTHON, '/usr/bin/python3', 'python3']) {
    if (python && spawnSync(python, ['-c', probe], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}
