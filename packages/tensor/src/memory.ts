import type { BackendMemory } from './backend.js';
import { initialisedBackends, resolveBackend } from './context.js';
import { liveCounts } from './tensor.js';

/** A snapshot of tensor and pool memory. */
export interface MemoryInfo {
  /** Live (not disposed) tensor handles, views included, on every backend. */
  liveTensors: number;
  /** Distinct storages behind them. */
  liveStorages: number;
  /** Pool counters of each initialised backend. */
  backends: Record<string, BackendMemory>;
}

/** Live tensors and each backend's allocated and pooled bytes (see `docs/backends.md`). */
export function memory(): MemoryInfo {
  const counts = liveCounts();
  const backends: Record<string, BackendMemory> = {};
  for (const name of initialisedBackends()) backends[name] = resolveBackend(name).memory();
  return { liveTensors: counts.tensors, liveStorages: counts.storages, backends };
}
