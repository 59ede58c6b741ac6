import { BackendError } from '../../errors.js';

/** Where the `GPU` object came from and how to let go of it. */
export interface GpuHandle {
  gpu: GPU;
  /** `navigator.gpu` in browsers; `webgpu (Dawn)` in Node. */
  source: string;
}

/** What to tell a user who has no adapter. */
export const ADAPTER_HINT =
  "install a GPU driver, or on Linux Mesa's lavapipe >= 24: apt-get install -t bookworm-backports mesa-vulkan-drivers";

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/**
 * Finds a WebGPU implementation: `navigator.gpu` when the environment has one (browsers,
 * Deno), otherwise Dawn through the `webgpu` npm package in Node.
 *
 * The package is imported dynamically with a computed specifier, so bundlers for the browser
 * never try to resolve a native Node addon. Nothing here is cached at module level: the object
 * `create()` returns keeps Node's event loop alive while it is referenced, so only the backend
 * that asked for it holds it, and `destroy()` drops it.
 */
export async function acquireGpu(): Promise<GpuHandle> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  if (!isNode()) {
    throw new BackendError(
      `webgpu: this environment has no navigator.gpu (WebGPU is not enabled); ${ADAPTER_HINT}`,
    );
  }
  const specifier = 'webgpu';
  let mod: { create: (options: string[]) => GPU };
  try {
    mod = await import(/* @vite-ignore */ specifier);
  } catch (err) {
    const missing = /cannot find (package|module)|ERR_MODULE_NOT_FOUND/i.test(String((err as Error).message));
    throw new BackendError(
      missing
        ? "webgpu: the WebGPU backend in Node needs Dawn, the optional peer dependency 'webgpu' of @kiln/tensor, " +
            "which is not installed. Install it with 'npm install webgpu' (pnpm add webgpu, yarn add webgpu), or use " +
            `init({ backend: 'cpu' }). It also needs a Vulkan/Metal/D3D12 driver: ${ADAPTER_HINT}`
        : `webgpu: the 'webgpu' package (Dawn for Node) is installed but failed to load: ${(err as Error).message}. ` +
            `Reinstall it ('npm install webgpu') and make sure a Vulkan/Metal/D3D12 driver exists: ${ADAPTER_HINT}`,
    );
  }
  return { gpu: mod.create([]), source: 'webgpu (Dawn)' };
}
