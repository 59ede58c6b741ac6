/**
 * safetensors files on disk (Node only; public as `@kiln/tensor/node`). The byte format is in
 * `safetensors-format.ts`, tensor conversion in `safetensors-tensors.ts`.
 */
import { readFile } from 'node:fs/promises';
import type { Tensor } from '../index.js';
import {
  type ParsedSafetensors,
  type ParseSafetensorsOptions,
  parseSafetensors,
  type SafetensorsEntry,
  serializeSafetensorsParts,
} from './safetensors-format.js';
import {
  type LoadTensorsOptions,
  type SaveTensorsOptions,
  safetensorsEntriesFromTensors,
  tensorsFromSafetensors,
} from './safetensors-tensors.js';
import { writeFileAtomic } from './write-atomic.js';

/** Reads and validates a safetensors file; the entries' `data` are views into the file's bytes. */
export async function readSafetensorsFile(
  path: string,
  options: Omit<ParseSafetensorsOptions, 'source'> = {},
): Promise<ParsedSafetensors> {
  const buffer = await readFile(path);
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), {
    ...options,
    source: path,
  });
}

/** Writes raw entries as a safetensors file, atomically (temp file + fsync + rename). */
export async function writeSafetensorsFile(
  path: string,
  entries: Iterable<readonly [string, SafetensorsEntry]> | Record<string, SafetensorsEntry>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensorsParts(entries, metadata));
}

/** Loads a safetensors file as `@kiln/tensor` tensors (owned by the caller) plus its metadata. */
export async function loadSafetensors(
  path: string,
  options: LoadTensorsOptions & Omit<ParseSafetensorsOptions, 'source'> = {},
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const parsed = await readSafetensorsFile(path, options);
  return { tensors: tensorsFromSafetensors(parsed, options), metadata: parsed.metadata };
}

/**
 * Saves tensors to a safetensors file atomically. `{ dtype: 'float16' }` stores float32 tensors
 * as F16. Tensors are read back with `await t.data()` and not disposed.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  options: SaveTensorsOptions = {},
): Promise<void> {
  await writeSafetensorsFile(path, await safetensorsEntriesFromTensors(tensors, options), options.metadata);
}
