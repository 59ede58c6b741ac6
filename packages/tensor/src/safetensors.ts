/**
 * `@kiln/tensor/safetensors`: the safetensors format, pure and browser-safe. Parse and validate
 * a file's bytes, serialise entries, and convert between entries and `@kiln/tensor` tensors.
 * Every package that stores tensors (model directories, training checkpoints, adapters) uses
 * these, so none of them has to depend on another only for the file format. Reading and writing
 * files on disk is in `@kiln/tensor/node`.
 *
 * ```ts
 * import { tensor } from '@kiln/tensor';
 * import { parseSafetensors, tensorsFromSafetensors, tensorsToSafetensors } from '@kiln/tensor/safetensors';
 *
 * const bytes = await tensorsToSafetensors({ w: tensor([[1, 2], [3, 4]]) }, { metadata: { format: 'pt' } });
 * const { w } = tensorsFromSafetensors(parseSafetensors(bytes, { source: 'in memory' }));
 * ```
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
} from './io/safetensors-format.js';
export {
  decodeEntry,
  entryFromTensor,
  type LoadTensorsOptions,
  type SaveTensorsOptions,
  safetensorsEntriesFromTensors,
  tensorsFromSafetensors,
  tensorsToSafetensors,
} from './io/safetensors-tensors.js';
