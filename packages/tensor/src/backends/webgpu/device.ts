import { BackendError } from '../../errors.js';
import { ADAPTER_HINT, acquireGpu, type GpuHandle } from './gpu.js';
import { withNativeStderrFiltered } from './native-stderr.js';

/** Optional features the backend turns on whenever the adapter offers them. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/**
 * Limits requested at the adapter's maximum. Kernels size their tiles and pools from the
 * negotiated values, and the defaults (128 MiB bindings, 16 KiB workgroup memory on some
 * devices) are far below what real adapters support.
 */
const MAX_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;

/** Alignment limits are "smaller is better": request the adapter's value. */
const MIN_LIMITS = ['minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment'] as const;

/** A ready device and what was negotiated for it. */
export interface OpenedDevice {
  handle: GpuHandle;
  device: GPUDevice;
  /** Adapter vendor/architecture/description, for `info.device`. */
  description: string;
  features: string[];
  limits: Record<string, number>;
  /** The adapter's smallest subgroup size (0 when it does not say): subgroup kernels assume >= 8 lanes. */
  subgroupMinSize: number;
  /**
   * Whether the adapter offers `chromium-experimental-subgroup-matrix` with at least one
   * configuration. Recorded only: Dawn exposes it behind the `allow_unsafe_apis` toggle, and
   * lavapipe reports no configurations (`subgroupMatrixConfigs: []`) even then, so no kernel
   * uses it yet.
   */
  subgroupMatrix: boolean;
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info as GPUAdapterInfo | undefined;
  if (!info) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.description || info.device].filter(
    (s) => s && s.length > 0,
  );
  return parts.length > 0 ? parts.join(' / ') : 'unknown adapter';
}

/**
 * Requests an adapter and a device with the largest limits and the optional features
 * (`shader-f16`, `subgroups`, `timestamp-query`) the adapter offers.
 * Throws a {@link BackendError} that says how to get an adapter when there is none.
 */
export async function openDevice(options: GPURequestAdapterOptions = {}): Promise<OpenedDevice> {
  const handle = await acquireGpu();
  // Dawn prints two warnings about limits Kiln does not use while it lists adapters (see native-stderr.ts).
  const adapter = await withNativeStderrFiltered(() => handle.gpu.requestAdapter(options));
  if (!adapter) {
    throw new BackendError(
      `webgpu: no WebGPU adapter found (${handle.source} returned none); ${ADAPTER_HINT}`,
    );
  }
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const info = adapter.info as
    | (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMatrixConfigs?: readonly unknown[] })
    | undefined;
  const subgroupMinSize = info?.subgroupMinSize ?? 0;
  const subgroupMatrix =
    adapter.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName) &&
    (info?.subgroupMatrixConfigs?.length ?? 0) > 0;
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  const requiredLimits: Record<string, number> = {};
  for (const name of [...MAX_LIMITS, ...MIN_LIMITS]) {
    const value = adapterLimits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features as GPUFeatureName[], requiredLimits });
  } catch (err) {
    throw new BackendError(
      `webgpu: requestDevice failed on ${describeAdapter(adapter)}: ${(err as Error).message}`,
    );
  }
  const limits: Record<string, number> = {};
  const deviceLimits = device.limits as unknown as Record<string, number>;
  for (const name of [...MAX_LIMITS, ...MIN_LIMITS]) {
    if (typeof deviceLimits[name] === 'number') limits[name] = deviceLimits[name];
  }
  return {
    handle,
    device,
    description: describeAdapter(adapter),
    features: [...features],
    limits,
    subgroupMinSize,
    subgroupMatrix,
  };
}
