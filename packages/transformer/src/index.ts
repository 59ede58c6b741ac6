/**
 * @kiln/transformer: transformer language models for Kiln. For now it holds checkpoint I/O:
 * safetensors read/write for `@kiln/tensor` tensors, compatible with Hugging Face and PyTorch.
 *
 * ```ts
 * import { loadSafetensors, saveSafetensors } from '@kiln/transformer';
 * await saveSafetensors('model.safetensors', { 'lm_head.weight': w }, { dtype: 'float16' });
 * const { tensors, metadata } = await loadSafetensors('model.safetensors');
 * ```
 *
 * The byte-level functions (`parseSafetensors`, `serializeSafetensors`) and tensor conversion
 * (`tensorsFromSafetensors`, `tensorsToSafetensors`) are pure and run in browsers; the file
 * helpers (`readSafetensorsFile`, `writeSafetensorsFile`, `loadSafetensors`, `saveSafetensors`)
 * need Node.
 * @packageDocumentation
 */

export {
  type ParsedSafetensors,
  type ParseSafetensorsOptions,
  parseSafetensors,
  SAFETENSORS_ITEM_SIZE,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEntry,
  SafetensorsError,
  serializeSafetensors,
  serializeSafetensorsParts,
} from './safetensors.js';
export {
  loadSafetensors,
  readSafetensorsFile,
  saveSafetensors,
  writeSafetensorsFile,
} from './safetensors-file.js';
export {
  decodeEntry,
  entryFromTensor,
  type LoadTensorsOptions,
  type SaveTensorsOptions,
  safetensorsEntriesFromTensors,
  tensorsFromSafetensors,
  tensorsToSafetensors,
} from './safetensors-tensors.js';
