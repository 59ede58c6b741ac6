import type { Backend } from '../../backend.js';
import { BackendError } from '../../errors.js';

/** Creates the WebGPU backend (placeholder until the WebGPU backend lands). */
export async function createWebGpuBackend(_options?: GPURequestAdapterOptions): Promise<Backend> {
  throw new BackendError('webgpu backend not implemented yet');
}
