/**
 * `@kiln/tensor/node`: file code that needs Node (`node:fs`), kept out of the main entry so that
 * `@kiln/tensor` and `@kiln/tensor/safetensors` bundle for browsers.
 *
 * - safetensors files: `readSafetensorsFile` / `writeSafetensorsFile` (raw entries) and
 *   `loadSafetensors` / `saveSafetensors` (tensors), written atomically.
 * - The atomic writer every package uses: `writeFileAtomic` (temporary file, fsync, rename,
 *   directory fsync), `writeFileDurable` (write + fsync, for files inside a directory that is
 *   itself renamed into place), `fsyncDirectory` and `randomSuffix` (temporary names).
 *
 * ```ts
 * import { tensor } from '@kiln/tensor';
 * import { loadSafetensors, saveSafetensors, writeFileAtomic } from '@kiln/tensor/node';
 *
 * await saveSafetensors('weights.safetensors', { w: tensor([1, 2, 3]) }, { dtype: 'float16' });
 * const { tensors, metadata } = await loadSafetensors('weights.safetensors');
 * await writeFileAtomic('state.json', JSON.stringify({ step: 1 }));
 * ```
 * @packageDocumentation
 */

export {
  loadSafetensors,
  readSafetensorsFile,
  saveSafetensors,
  writeSafetensorsFile,
} from './io/safetensors-file.js';
export {
  type FileContent,
  fsyncDirectory,
  randomSuffix,
  writeFileAtomic,
  writeFileDurable,
} from './io/write-atomic.js';
