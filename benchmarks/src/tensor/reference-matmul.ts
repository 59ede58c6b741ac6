// The reference matmul: a plain WGSL kernel on a Dawn device of our own (same adapter as Kiln's,
// same process), written for this suite from the idea of the shared matmul probe's fastest f32
// variant ("rowband 16×4/inv wg16, A via subgroupBroadcast"): square row-major n×n operands with
// n baked into the shader as a constant, each invocation owns 16 rows × one vec4 of 4 columns,
// 16-lane workgroups, A's vec4s along K handed across the subgroup by subgroupBroadcast, B read
// as vec4s. No strides, no edges, no epilogue: the most a kernel of this shape gets on the
// adapter, to print Kiln's matmul as a ratio of it on every run.
import { create, globals } from 'webgpu';

const { GPUBufferUsage, GPUMapMode } = globals as unknown as {
  GPUBufferUsage: typeof globalThis.GPUBufferUsage;
  GPUMapMode: typeof globalThis.GPUMapMode;
};

/** Rows per invocation, lanes per workgroup, lanes holding A values per broadcast round. */
const ROWS = 16;
const LANES = 16;
const SG = 8;

/** Held for the life of the process: a collected Dawn instance crashes while its device lives. */
const instances: unknown[] = [];

/**
 * Awaits a Dawn promise without letting dawn.node's polling spin a core (on a 2-core adapter
 * that core is one lavapipe's workers need): block 0.5 ms at a time, one event-loop turn between.
 */
const cell = new Int32Array(new SharedArrayBuffer(4));
async function politely(promise: Promise<unknown>): Promise<void> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    Atomics.wait(cell, 0, 0, 0.5);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await promise;
}

/** The label of the reference row in the suite's tables. */
export const REFERENCE_MATMUL = 'reference WGSL rowband 16×4 wg16 (A by subgroupBroadcast, probe idea)';

function shader(n: number, transposedB: boolean): string {
  const rows = Array.from({ length: ROWS }, (_, r) => r);
  const ks = [0, 1, 2, 3];
  const bLoads = transposedB
    ? // B given as Bᵀ (row j = column j of B): 4 vec4s along K, transposed in registers
      `${ks.map((c) => `    let t${c} = B[(col + ${c}u) * NV + kv];`).join('\n')}
${ks.map((kk) => `    let b${kk} = vec4f(t0[${kk}], t1[${kk}], t2[${kk}], t3[${kk}]);`).join('\n')}`
    : ks.map((kk) => `    let b${kk} = B[(kv * 4u + ${kk}u) * NV + cv];`).join('\n');
  return `enable subgroups;
const N = ${n}u;
const NV = N / 4u;
@group(0) @binding(0) var<storage, read> A: array<vec4f>;
@group(0) @binding(1) var<storage, read> B: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4f>;
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) w: vec3u, @builtin(local_invocation_id) l: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let row0 = w.y * ${ROWS}u;
  let cv = w.x * ${LANES}u + l.x;
  let col = cv * 4u;
  let lane = sl % ${SG}u;
${rows.map((r) => `  var c${r} = vec4f(0.0);`).join('\n')}
  for (var kv = 0u; kv < NV; kv++) {
${Array.from({ length: ROWS / SG }, (_, g) => `    let a${g} = A[(row0 + ${g * SG}u + lane) * NV + kv];`).join('\n')}
${rows.map((r) => `    let x${r} = subgroupBroadcast(a${r >> 3}, ${r % SG}u);`).join('\n')}
${bLoads}
${ks.map((kk) => rows.map((r) => `    c${r} = fma(vec4f(x${r}[${kk}]), b${kk}, c${r});`).join('\n')).join('\n')}
  }
${rows.map((r) => `  C[(row0 + ${r}u) * NV + cv] = c${r};`).join('\n')}
}`;
}

/** A prepared reference product: `run()` does `reps` products and waits for the last. */
export interface ReferenceMatmul {
  run(): Promise<void>;
  /** C as computed (for a correctness check against a CPU product). */
  read(): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The reference kernel for n×n @ n×n (or n×n @ (n×n)ᵀ with `transposedB`, B given row-major as
 * Bᵀ), `reps` dispatches per run in one command buffer, ending with a 4-byte readback of C.
 * Returns undefined where it cannot run (no subgroups, n not a multiple of 64).
 */
export async function referenceMatmul(
  n: number,
  reps: number,
  a: Float32Array,
  b: Float32Array,
  transposedB = false,
): Promise<ReferenceMatmul | undefined> {
  if (n % (LANES * 4) !== 0 || n % ROWS !== 0) return undefined;
  const gpu = create([]);
  instances.push(gpu);
  const adapter = await gpu.requestAdapter();
  if (!adapter?.features.has('subgroups') || (adapter.info.subgroupMinSize ?? 0) < SG) return undefined;
  const device = await adapter.requestDevice({
    requiredFeatures: ['subgroups' as GPUFeatureName],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const bytes = n * n * 4;
  const [bufA, bufB, bufC] = [0, 1, 2].map(() => device.createBuffer({ size: bytes, usage }));
  device.queue.writeBuffer(bufA, 0, a);
  device.queue.writeBuffer(bufB, 0, b);
  const tiny = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: shader(n, transposedB) }), entryPoint: 'main' },
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const grid = [n / (LANES * 4), n / ROWS] as const;
  return {
    async run() {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(...grid);
      pass.end();
      encoder.copyBufferToBuffer(bufC, 0, tiny, 0, 4);
      device.queue.submit([encoder.finish()]);
      await politely(tiny.mapAsync(GPUMapMode.READ));
      tiny.unmap();
    },
    async read() {
      const out = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(bufC, 0, out, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await out.mapAsync(GPUMapMode.READ);
      const c = new Float32Array(out.getMappedRange().slice(0));
      out.destroy();
      return c;
    },
    dispose() {
      for (const buf of [bufA, bufB, bufC, tiny]) buf.destroy();
      device.destroy();
    },
  };
}
