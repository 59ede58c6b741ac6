/**
 * WebGPU mechanics: batched submission, ordering of uploads after encoded work, pooling,
 * limits, error reporting (validation, device loss, destroy), float16 round trips, and that
 * Node can exit after the backend is destroyed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BackendError, roundToFloat16, scope, type Tensor, tensor, zeros } from '@kiln/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { openDevice } from '../../src/backends/webgpu/device.js';
import { createWebGpuBackend, type GpuStorage } from '../../src/backends/webgpu/index.js';
import { gpu as sharedGpu, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);

const gpu = sharedGpu as WebGpuBackend;
const bufferOf = (t: Tensor) => (t.storage.handle as GpuStorage).buffer;

describe.skipIf(!!skipReason)(suiteName('webgpu mechanics'), () => {
  it('info names the adapter, features, limits and dtypes', () => {
    expect(gpu.info.name).toBe('webgpu');
    expect(gpu.info.device.length).toBeGreaterThan(0);
    expect(gpu.info.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(gpu.info.dtypes).toContain('float32');
    expect(gpu.info.dtypes.includes('float16')).toBe(gpu.info.features.includes('shader-f16'));
  });

  it('many ops then one readback: batched into few submits, right answer', async () => {
    const before = gpu.stats().submits;
    let x = tensor([1, 2, 3], { backend: gpu });
    for (let i = 0; i < 300; i++) {
      const y = x.add(1);
      x.dispose();
      x = y;
    }
    expect(gpu.stats().submits - before).toBeLessThanOrEqual(Math.ceil(600 / 128));
    expect(Array.from(await x.data())).toEqual([301, 302, 303]);
    x.dispose();
  });

  it('an upload into a released-and-reused buffer is ordered after encoded work that read it', async () => {
    const a = tensor([1, 2, 3, 4], { backend: gpu });
    const b = a.mul(10); // encoded, not submitted
    expect(gpu.stats().pendingDispatches).toBeGreaterThan(0);
    const reused = bufferOf(a);
    a.dispose(); // back to the pool while b's kernel still has to read it
    const c = tensor([5, 6, 7, 8], { backend: gpu });
    expect(bufferOf(c)).toBe(reused); // the pool handed the same buffer out again
    expect(Array.from(await b.data())).toEqual([10, 20, 30, 40]);
    expect(Array.from(await c.data())).toEqual([5, 6, 7, 8]);
    b.dispose();
    c.dispose();
  });

  it('pool reuse keeps memory bounded over 1000 iterations', async () => {
    await gpu.sync();
    const before = gpu.memory();
    for (let i = 0; i < 1000; i++) {
      scope(() => {
        const x = tensor([i, 1, 2, 3, 4, 5, 6], { backend: gpu });
        x.mul(2).add(1).relu().sum();
      });
      if (i % 250 === 0) await gpu.sync();
    }
    await gpu.sync();
    const after = gpu.memory();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.allocatedBytes).toBe(before.allocatedBytes);
    expect(after.pooledBuffers - before.pooledBuffers).toBeLessThan(16);
  });

  it('memory() counts live and pooled bytes; parameters have their own pool', async () => {
    const m0 = gpu.memory();
    const p = zeros([1000], { backend: gpu, usage: 'parameter' });
    const m1 = gpu.memory();
    expect(m1.allocatedBytes - m0.allocatedBytes).toBeGreaterThanOrEqual(4000);
    expect(m1.liveBuffers - m0.liveBuffers).toBe(1);
    const paramBuffer = bufferOf(p);
    p.dispose();
    expect(gpu.memory().pooledBytes).toBeGreaterThan(m1.pooledBytes);
    const a = zeros([1000], { backend: gpu });
    expect(bufferOf(a)).not.toBe(paramBuffer);
    const q = zeros([1000], { backend: gpu, usage: 'parameter' });
    expect(bufferOf(q)).toBe(paramBuffer);
    a.dispose();
    q.dispose();
  });

  it('with a full pool, a released buffer is destroyed only after the work that reads it is submitted', async () => {
    const opened = await openDevice();
    const b = new WebGpuBackend(opened, { maxPooledBytes: 0 });
    const a = tensor([1, 2, 3], { backend: b });
    const doubled = a.mul(2);
    a.dispose(); // retired while the mul is still only encoded
    expect(b.memory().pooledBuffers).toBe(0);
    expect(Array.from(await doubled.data())).toEqual([2, 4, 6]);
    doubled.dispose();
    b.destroy();
  });

  it('an allocation above maxStorageBufferBindingSize fails clearly', () => {
    const limit = gpu.info.limits.maxStorageBufferBindingSize;
    const n = limit / 4 + 1;
    expect(() => zeros([n], { backend: gpu })).toThrow(BackendError);
    expect(() => zeros([n], { backend: gpu })).toThrow(/maxStorageBufferBindingSize/);
    expect(() => zeros([n], { backend: gpu })).toThrow(new RegExp(`${n} float32`));
  });

  it('an invalid kernel surfaces at the next sync as a BackendError naming the op', async () => {
    gpu.debugDispatch('my_broken_op', 'this is not WGSL', [], [1, 1, 1]);
    await expect(gpu.sync()).rejects.toThrow(/my_broken_op/);
    await expect(gpu.sync()).resolves.toBeUndefined(); // reported once, then cleared
  });

  it('an invalid dispatch (a buffer bound twice for writing) names the op at readback', async () => {
    const t = zeros([4], { backend: gpu });
    const s = t.storage.handle as GpuStorage;
    const wgsl = `struct P { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> params: P;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(1) fn main() { a[0] = b[0] + f32(params.w[0].x); }`;
    gpu.debugDispatch('aliased_write_op', wgsl, [s, s], [1, 1, 1]);
    await expect(t.data()).rejects.toThrow(/aliased_write_op/);
    t.dispose();
  });

  it('a grid beyond the workgroup limit is refused synchronously, naming the op', () => {
    const t = zeros([4], { backend: gpu });
    const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
    expect(() =>
      gpu.debugDispatch('huge_grid_op', 'x', [t.storage.handle as GpuStorage], [max + 1, 1, 1]),
    ).toThrow(/huge_grid_op/);
    t.dispose();
  });

  it('float16, bool and integer round trips (odd lengths, specials)', async () => {
    if (!gpu.info.dtypes.includes('float16')) return;
    const values = [
      0,
      -0,
      1 / 3,
      65504,
      65519,
      65520,
      -1e6,
      1e-7,
      6e-8,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ];
    const h = tensor(values, { backend: gpu, dtype: 'float16' });
    const d = await h.data();
    expect(d).toBeInstanceOf(Float32Array);
    expect(Array.from(d)).toEqual(values.map((v) => roundToFloat16(v)));
    const b = tensor([true, false, true], { backend: gpu });
    const bd = await b.data();
    expect(bd).toBeInstanceOf(Uint8Array);
    expect(Array.from(bd)).toEqual([1, 0, 1]);
    const i = tensor(new Int32Array([-2147483648, 2147483647, -1]), { backend: gpu });
    expect(Array.from(await i.data())).toEqual([-2147483648, 2147483647, -1]);
    for (const t of [h, b, i]) t.dispose();
  });

  it('concurrent readbacks each get their own data', async () => {
    const ts = Array.from({ length: 20 }, (_, k) => tensor([k, k + 1], { backend: gpu }).mul(3));
    const results = await Promise.all(ts.map((t) => t.data()));
    results.forEach((r, k) => {
      expect(Array.from(r)).toEqual([3 * k, 3 * k + 3]);
    });
    for (const t of ts) t.dispose();
  });

  it('without shader-f16, float16 is not offered and allocating it fails clearly', async () => {
    const opened = await openDevice();
    const b = new WebGpuBackend({ ...opened, features: opened.features.filter((f) => f !== 'shader-f16') });
    expect(b.info.dtypes).not.toContain('float16');
    expect(() => b.allocate('float16', 4, 'activation')).toThrow(/shader-f16/);
    b.destroy();
  });

  it('after destroy() every call throws; a lost device is reported with its reason', async () => {
    const b = (await createWebGpuBackend()) as WebGpuBackend;
    b.destroy();
    expect(() => b.allocate('float32', 4, 'activation')).toThrow(/destroyed/);
    const lost = (await createWebGpuBackend()) as WebGpuBackend;
    const s = lost.allocate('float32', 4, 'activation');
    lost.debugLoseDevice();
    let error: unknown;
    for (let i = 0; i < 100 && !error; i++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        lost.fill({ storage: s, dtype: 'float32', shape: [4], strides: [1], offset: 0 }, 1);
      } catch (err) {
        error = err;
      }
    }
    expect(error).toBeInstanceOf(BackendError);
    expect(String(error)).toMatch(/device was lost/);
    lost.destroy();
  });

  it('Node exits by itself after the backend is destroyed', () => {
    const script = `
import { createWebGpuBackend } from './src/backends/webgpu/index.ts';
const b = await createWebGpuBackend();
const s = b.allocate('float32', 4, 'activation');
b.upload(s, 'float32', new Float32Array([1, 2, 3, 4]));
const d = await b.download(s, 'float32', 4);
b.destroy();
console.log('ok ' + d.join(','));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '../..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.stdout).toContain('ok 1,2,3,4');
    expect(child.status).toBe(0);
  });
});
