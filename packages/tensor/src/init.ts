import type { Backend, BackendInfo } from './backend.js';
import { CpuBackend } from './backends/cpu/backend.js';
import { registerBackend, resolveBackend, setDefaultBackend, unregisterBackend } from './context.js';
import { assertSingleCopy } from './copies.js';
import { BackendError } from './errors.js';

/** Which backend `init` should select. */
export type BackendChoice = 'webgpu' | 'cpu' | 'auto';

/**
 * What `requestAdapter` is asked for: the fields of WebGPU's `GPURequestAdapterOptions` that
 * matter here, spelled out so that this package's types need neither the DOM lib nor
 * `@webgpu/types` in a consumer's program.
 */
export interface AdapterOptions {
  /** `'high-performance'` prefers a discrete GPU, `'low-power'` an integrated one. */
  powerPreference?: 'low-power' | 'high-performance';
  /** Ask for the implementation's fallback (software) adapter. */
  forceFallbackAdapter?: boolean;
}

/** Options of {@link init}. */
export interface InitOptions {
  /**
   * `auto` (default) picks WebGPU when an adapter exists, otherwise the CPU backend with one
   * warning. The environment variable `KILN_BACKEND` (`webgpu`, `cpu` or `auto`) overrides this.
   */
  backend?: BackendChoice;
  /** Passed to `requestAdapter` (e.g. `{ powerPreference: 'high-performance' }`). */
  adapter?: AdapterOptions;
  /** Silences the warning printed when `auto` falls back to the CPU. */
  quiet?: boolean;
}

const instances = new Map<string, Promise<Backend>>();
let warnedFallback = false;

function envChoice(): BackendChoice | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.KILN_BACKEND;
  if (env === undefined || env === '') return undefined;
  if (env !== 'webgpu' && env !== 'cpu' && env !== 'auto') {
    throw new BackendError(`KILN_BACKEND='${env}' is not a backend; use webgpu, cpu or auto`);
  }
  return env;
}

/**
 * Initialises (once) and returns a backend instance without making it the default. Use it to run
 * the same computation on two backends, e.g. `tensor(x, { backend: await initBackend('cpu') })`.
 */
export function initBackend(
  name: 'webgpu' | 'cpu',
  options: Pick<InitOptions, 'adapter'> = {},
): Promise<Backend> {
  assertSingleCopy();
  let p = instances.get(name);
  if (!p) {
    p = (async () => {
      const backend: Backend =
        name === 'cpu'
          ? new CpuBackend()
          : await (await import('./backends/webgpu/index.js')).createWebGpuBackend(options.adapter);
      registerBackend(backend);
      return backend;
    })();
    instances.set(name, p);
    p.catch(() => instances.delete(name));
  }
  return p;
}

/**
 * Selects the default backend and returns what was chosen (name, device, features, limits).
 * `webgpu` with no adapter throws an error that says how to get one; `auto` falls back to the
 * CPU with one clear warning. Safe to call more than once.
 */
export async function init(options: InitOptions = {}): Promise<BackendInfo> {
  assertSingleCopy();
  const choice = envChoice() ?? options.backend ?? 'auto';
  if (choice === 'cpu') {
    const b = await initBackend('cpu');
    setDefaultBackend(b);
    return b.info;
  }
  try {
    const b = await initBackend('webgpu', options);
    setDefaultBackend(b);
    return b.info;
  } catch (err) {
    if (choice === 'webgpu') throw err;
    if (!options.quiet && !warnedFallback) {
      warnedFallback = true;
      console.warn(
        `[kiln] WebGPU unavailable, using the CPU backend: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    const b = await initBackend('cpu');
    setDefaultBackend(b);
    return b.info;
  }
}

/** The default backend's info (throws if `init` has not run). */
export function backendInfo(): BackendInfo {
  return resolveBackend().info;
}

/** Destroys a backend instance; its tensors become unusable. Mostly for tests, shutdown and replacing a lost device. */
export async function destroyBackend(name: 'webgpu' | 'cpu'): Promise<void> {
  const p = instances.get(name);
  if (!p) return;
  instances.delete(name);
  const b = await p;
  // Destroy even when the last work failed, so a lost device can be replaced (its error says to
  // call this); a pending error of a working device is still thrown, after the teardown.
  let failure: unknown;
  try {
    await b.sync();
  } catch (error) {
    failure = error;
  }
  b.destroy();
  unregisterBackend(name);
  if (failure && !/device was lost/.test((failure as Error).message)) throw failure;
}
