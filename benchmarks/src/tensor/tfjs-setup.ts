// Loads TF.js with its WebGPU backend on the same Dawn adapter Kiln uses (Dawn's `webgpu` package
// installed as navigator.gpu). Imported only by child processes that run TF.js.
import { create, globals } from 'webgpu';

export type TF = typeof import('@tensorflow/tfjs');

/** TF.js on WebGPU, ready to use. */
export async function loadTfjs(): Promise<TF> {
  Object.assign(globalThis, globals);
  // Node 24's navigator is a getter-only global: redefine it rather than assign
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: the webgpu backend failed to initialise');
  await tf.ready();
  return tf;
}
