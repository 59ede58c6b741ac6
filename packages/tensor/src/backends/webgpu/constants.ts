/**
 * WebGPU flag values from the specification. The backend uses these instead of the
 * `GPUBufferUsage`/`GPUMapMode` globals because Dawn in Node does not install those globals
 * unless asked, and the backend should not write to `globalThis`.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

/** `GPUMapMode.READ`. */
export const MAP_MODE_READ = 0x0001;

/** `GPUShaderStage.COMPUTE`. */
export const SHADER_STAGE_COMPUTE = 0x4;

/** Workgroups a dispatch may have in one dimension (WebGPU's default limit; devices rarely raise it). */
export const DEFAULT_MAX_WORKGROUPS_PER_DIMENSION = 65535;
