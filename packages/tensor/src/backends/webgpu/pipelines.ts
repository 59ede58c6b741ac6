import { SHADER_STAGE_COMPUTE } from './constants.js';
import type { DeviceErrors } from './errors.js';

/** How a kernel binds a storage buffer. */
export type Access = 'read' | 'read_write';

/**
 * A kernel before compilation. Binding 0 is always the uniform parameter block; storage buffers
 * follow at bindings 1..n in `access` order.
 */
export interface KernelSource {
  /**
   * Identifies the WGSL exactly: op, dtypes, rank and variant, never the shape (shapes travel in
   * uniforms), so a model compiles a bounded number of pipelines.
   */
  key: string;
  access: readonly Access[];
  /** Generates the WGSL; called once per key. */
  build(): string;
}

/** A compiled kernel and the layout its bind groups use. */
export interface CompiledKernel {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * Compiles kernels once per key. Bind group layouts are explicit (not `layout: 'auto'`), so a
 * binding the WGSL happens not to use is still part of the layout, and layouts with the same
 * access pattern are shared between pipelines.
 */
export class PipelineCache {
  #device: GPUDevice;
  #errors: DeviceErrors;
  #kernels = new Map<string, CompiledKernel>();
  #layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();

  constructor(device: GPUDevice, errors: DeviceErrors) {
    this.#device = device;
    this.#errors = errors;
  }

  /** Number of compiled pipelines (for tests and diagnostics). */
  get size(): number {
    return this.#kernels.size;
  }

  /** The compiled kernel for `source`, compiling it on first use (errors are attributed to `op`). */
  get(source: KernelSource, op: string): CompiledKernel {
    const hit = this.#kernels.get(source.key);
    if (hit) return hit;
    const layout = this.#layout(source.access);
    const compiled = this.#errors.scope(`${op} (compiling kernel ${source.key})`, () => {
      const module = this.#device.createShaderModule({ code: source.build(), label: source.key });
      const pipeline = this.#device.createComputePipeline({
        label: source.key,
        layout: layout.pipeline,
        compute: { module, entryPoint: 'main' },
      });
      return { key: source.key, pipeline, layout: layout.group };
    });
    this.#kernels.set(source.key, compiled);
    return compiled;
  }

  #layout(access: readonly Access[]): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const signature = access.join(',');
    let layout = this.#layouts.get(signature);
    if (layout) return layout;
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } },
      ...access.map((a, i) => ({
        binding: i + 1,
        visibility: SHADER_STAGE_COMPUTE,
        buffer: { type: (a === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType },
      })),
    ];
    const group = this.#device.createBindGroupLayout({ entries, label: `kiln layout ${signature}` });
    layout = { group, pipeline: this.#device.createPipelineLayout({ bindGroupLayouts: [group] }) };
    this.#layouts.set(signature, layout);
    return layout;
  }
}
