/**
 * The WebGPU backend of `@kiln/tensor`: Dawn through the `webgpu` package in Node,
 * `navigator.gpu` in browsers. See `docs/backends.md` ("The WebGPU backend").
 */
import type { Backend } from '../../backend.js';
import { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';
import { openDevice } from './device.js';

export { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';
export { GpuStorage } from './storage.js';

/**
 * Creates the WebGPU backend: finds an adapter (throwing a `BackendError` that says how to get
 * one when there is none), negotiates limits and features, and returns a ready backend.
 */
export async function createWebGpuBackend(
  adapterOptions?: GPURequestAdapterOptions,
  options?: WebGpuBackendOptions,
): Promise<Backend> {
  const opened = await openDevice(adapterOptions);
  const backend = new WebGpuBackend(opened, options);
  await backend.restoreAutotune();
  return backend;
}
