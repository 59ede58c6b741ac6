import type { Backend } from './backend.js';
import { secondCopyHint } from './copies.js';

const backends = new Map<string, Backend>();
let current: Backend | null = null;

/** Registers an initialised backend instance under its name (done by `init`). */
export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

/** Removes a backend instance (after `destroy`). */
export function unregisterBackend(name: string): void {
  const b = backends.get(name);
  backends.delete(name);
  if (current === b) current = null;
}

/** Makes an initialised backend the default for creation functions. */
export function setDefaultBackend(backend: Backend): void {
  registerBackend(backend);
  current = backend;
}

/** The default backend (set by `await init()`); throws if `init` has not run. */
export function defaultBackend(): Backend {
  if (!current) {
    throw new Error(
      `No backend initialised: call \`await init({ backend: 'auto' })\` from @kiln/tensor before creating tensors${secondCopyHint()}`,
    );
  }
  return current;
}

/** An initialised backend by name, or the instance itself. */
export function resolveBackend(which?: Backend | string): Backend {
  if (which === undefined) return defaultBackend();
  if (typeof which !== 'string') return which;
  const b = backends.get(which);
  if (!b)
    throw new Error(`Backend '${which}' is not initialised: call \`await initBackend('${which}')\` first`);
  return b;
}

/** Names of the initialised backends. */
export function initialisedBackends(): string[] {
  return [...backends.keys()];
}
