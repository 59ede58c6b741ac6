// The adapter's copy bandwidth without any library in the way: a device of our own (next to
// Kiln's, same adapter, same process) doing copyBufferToBuffer, and WGSL shaders copying vec4s.
// The fastest of these is the bandwidth roof the suite compares memory-bound kernels with; the
// fastest shader is reported on its own line too, as the most a kernel can hope to move.
import { create, globals } from 'webgpu';
import { timeAsync } from '../harness.js';
import type { Measurement } from './workloads.js';

const { GPUBufferUsage, GPUMapMode } = globals as unknown as {
  GPUBufferUsage: typeof globalThis.GPUBufferUsage;
  GPUMapMode: typeof globalThis.GPUMapMode;
};

/**
 * Dawn instances made here, held for the life of the process: a collected instance crashes Dawn
 * (a pthread assertion) while its device is still in use.
 */
const instances: unknown[] = [];

/** vec4s copied per invocation in the strided-loop variants (1: one per invocation). */
const PER_INVOCATION = [1, 16];
/**
 * vec4s per invocation in the run variants: each invocation copies that many consecutive vec4s,
 * unrolled, with one bounds check for the run (the layout of Kiln's vec4 elementwise kernel).
 */
const RUN_PER_INVOCATION = [2, 4, 8];
/** Invocations per workgroup of the run variants. */
const RUN_WORKGROUP = 128;

function runShader(perInvocation: number): string {
  const copies = Array.from({ length: perInvocation }, (_, k) => `dst[first + ${k}u] = src[first + ${k}u];`);
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${RUN_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let first = id.x * ${perInvocation}u;
  let count = arrayLength(&dst);
  if (first + ${perInvocation - 1}u < count) {
    ${copies.join('\n    ')}
  } else {
    for (var i = first; i < count; i = i + 1u) { dst[i] = src[i]; }
  }
}`;
}

function shader(perInvocation: number): string {
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * 256u;
  for (var k = 0u; k < ${perInvocation}u; k = k + 1u) {
    let i = id.x + k * stride;
    if (i < arrayLength(&dst)) { dst[i] = src[i]; }
  }
}`;
}

/**
 * Times `reps` copies of `bytes` per sample (each sample ends with a 4-byte readback of the
 * destination). Reports milliseconds per copy for each method.
 */
export async function rawCopies(
  bytes: number,
  reps: number,
  samples: number,
  warmup: number,
): Promise<Measurement[]> {
  const gpu = create([]);
  instances.push(gpu);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('raw copy: no WebGPU adapter');
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: Math.max(bytes, 128 * 2 ** 20),
      maxBufferSize: Math.max(bytes, 256 * 2 ** 20),
    },
  });
  try {
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const src = device.createBuffer({ size: bytes, usage: storage });
    const dst = device.createBuffer({ size: bytes, usage: storage });
    const read = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    // real data, so no page is left untouched
    const fill = new Float32Array(bytes / 4);
    for (let i = 0; i < fill.length; i++) fill[i] = i % 1000;
    device.queue.writeBuffer(src, 0, fill);

    const finish = async (encoder: GPUCommandEncoder) => {
      encoder.copyBufferToBuffer(dst, 0, read, 0, 4);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      read.unmap();
    };
    const measure = async (
      variant: string,
      encode: (encoder: GPUCommandEncoder) => void,
    ): Promise<Measurement> => {
      const ms = await timeAsync(
        async () => {
          const encoder = device.createCommandEncoder();
          for (let i = 0; i < reps; i++) encode(encoder);
          await finish(encoder);
        },
        samples,
        warmup,
      );
      return { variant, msPerOp: ms.map((m) => m / reps), raw: true };
    };

    const results = [
      await measure('raw copyBufferToBuffer', (e) => e.copyBufferToBuffer(src, 0, dst, 0, bytes)),
    ];
    const shaders = [
      ...PER_INVOCATION.map((per) => ({
        variant: `raw WGSL vec4 copy, ${per}/invocation`,
        code: shader(per),
        groups: Math.ceil(bytes / 16 / 256 / per),
      })),
      ...RUN_PER_INVOCATION.map((per) => ({
        variant: `raw WGSL vec4 copy, run of ${per}/invocation`,
        code: runShader(per),
        groups: Math.ceil(bytes / 16 / RUN_WORKGROUP / per),
      })),
    ];
    const shaderResults: Measurement[] = [];
    for (const { variant, code, groups } of shaders) {
      const pipeline = device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: src } },
          { binding: 1, resource: { buffer: dst } },
        ],
      });
      shaderResults.push(
        await measure(variant, (e) => {
          const pass = e.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(groups);
          pass.end();
        }),
      );
    }
    results.push(...shaderResults);
    // the adapter's shader copy bandwidth: the shader variant with the lowest median time
    const median = (m: Measurement) => [...m.msPerOp].sort((a, b) => a - b)[Math.floor(m.msPerOp.length / 2)];
    const fastest = shaderResults.reduce((best, m) => (median(m) < median(best) ? m : best));
    results.push({
      ...fastest,
      variant: `fastest WGSL shader copy (${fastest.variant.replace('raw WGSL ', '')})`,
    });
    for (const b of [src, dst, read]) b.destroy();
    return results;
  } finally {
    device.destroy();
    // the Dawn instance must outlive its device: a collected instance crashes Dawn mid-run
  }
}
