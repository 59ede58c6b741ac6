/**
 * The WebGPU backend's fused matmul epilogue (`matmulEpilogue`: out = act(a @ b + bias), and
 * preActivation = a @ b + bias when asked) against the CPU backend composing `matmul`,
 * `binary('add')` with the bias broadcast along rows and `unary(act)`: every activation × with and
 * without bias × with and without preActivation, odd sizes, transposed operands read in place,
 * batch broadcast, strided bias, outputs at an offset, float16, and every kernel variant forced
 * with KILN_MATMUL_VARIANT (each stores through the epilogue on its own code path).
 */
import type { Backend } from '@kiln/tensor';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MatmulActivation, MatmulEpilogue, View } from '../../src/backend.js';
import { MATMUL_VARIANTS, matmulVariantApplies } from '../../src/backends/webgpu/kernels/matmul.js';
import type { DType } from '../../src/dtype.js';
import { cpu, firstMismatch, gpu, randomSpec, shutdown, skipReason, suiteName } from './helpers.js';

afterAll(shutdown);
afterEach(() => {
  delete process.env.KILN_MATMUL_VARIANT;
});

const ACTIVATIONS: MatmulActivation[] = ['none', 'relu', 'gelu', 'geluTanh', 'silu'];

/** One product: sizes, batch handling and operand layouts. */
interface Case {
  batches: number;
  m: number;
  k: number;
  n: number;
  aTransposed?: boolean;
  bTransposed?: boolean;
  /** B shared by every batch (batch stride 0). */
  bBroadcast?: boolean;
}

/** Host data of a case, built once and placed on each backend. */
interface Data {
  a: Float32Array;
  b: Float32Array;
  /** Bias values at every other element from offset 1 (stride 2). */
  bias: Float32Array;
}

function data(c: Case, seed: number, dtype: DType): Data {
  const bCount = (c.bBroadcast ? 1 : c.batches) * c.k * c.n;
  const spec = (size: number, s: number) =>
    randomSpec([size], dtype, { seed: seed * 10 + s }).data as Float32Array;
  return { a: spec(c.batches * c.m * c.k, 1), b: spec(bCount, 2), bias: spec(1 + 2 * c.n, 3) };
}

function put(be: Backend, dtype: DType, values: Float32Array): unknown {
  const storage = be.allocate(dtype, values.length, 'activation');
  be.upload(storage, dtype, values);
  return storage;
}

/** A [batches, rows, cols] view of `storage`, row-major or stored transposed (cols-major). */
function view(
  storage: unknown,
  dtype: DType,
  shape: number[],
  transposed: boolean,
  broadcast: boolean,
  offset = 0,
): View {
  const [, rows, cols] = shape;
  const strides = transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1];
  if (broadcast) strides[0] = 0;
  return { storage, dtype, shape, strides, offset } as View;
}

/** The outputs (out, and preActivation when asked) of one fused product on `be`, downloaded. */
async function run(
  be: Backend,
  c: Case,
  d: Data,
  dtype: DType,
  activation: MatmulActivation,
  withBias: boolean,
  withPre: boolean,
): Promise<Float32Array[]> {
  const size = c.batches * c.m * c.n;
  const outShape = [c.batches, c.m, c.n];
  const a = view(put(be, dtype, d.a), dtype, [c.batches, c.m, c.k], !!c.aTransposed, false);
  const b = view(put(be, dtype, d.b), dtype, [c.batches, c.k, c.n], !!c.bTransposed, !!c.bBroadcast);
  const biasStorage = put(be, dtype, d.bias);
  const bias = { storage: biasStorage, dtype, shape: [c.n], strides: [2], offset: 1 } as View;
  // outputs at offsets (3 and 5 elements into their buffers) so the kernels' index arithmetic shows
  const outStorage = be.allocate(dtype, size + 3, 'activation');
  const out = { ...view(outStorage, dtype, outShape, false, false, 3), strides: [c.m * c.n, c.n, 1] };
  const preStorage = be.allocate(dtype, size + 5, 'activation');
  const pre = { ...view(preStorage, dtype, outShape, false, false, 5), strides: [c.m * c.n, c.n, 1] };
  const epilogue: MatmulEpilogue = {
    bias: withBias ? bias : null,
    activation,
    preActivation: withPre ? pre : null,
  };
  if (be === cpu) {
    // the reference: matmul, then the bias add broadcast along rows, then the unary op
    be.matmul(a, b, pre);
    if (withBias) be.binary('add', pre, { ...bias, shape: outShape, strides: [0, 0, 2] }, pre);
    if (activation === 'none') be.copy(pre, out);
    else be.unary(activation, pre, out);
  } else {
    if (!be.matmulEpilogue) throw new Error('webgpu backend lacks matmulEpilogue');
    be.matmulEpilogue(a, b, out, epilogue);
  }
  const read = async (s: unknown, offset: number) =>
    (await be.download(s, dtype, size + offset)).slice(offset) as Float32Array;
  const results = [await read(outStorage, 3)];
  if (withPre) results.push(await read(preStorage, 5));
  for (const s of [a.storage, b.storage, biasStorage, outStorage, preStorage]) be.release(s);
  return results;
}

async function check(
  c: Case,
  dtype: DType,
  activation: MatmulActivation,
  withBias: boolean,
  withPre: boolean,
  what: string,
): Promise<void> {
  const d = data(c, c.m * 31 + c.k * 7 + c.n, dtype);
  const expected = await run(cpu, c, d, dtype, activation, withBias, withPre);
  const actual = await run(gpu!, c, d, dtype, activation, withBias, withPre);
  // f32 accumulation vs the CPU's float64 (as matmul-variants.test.ts); f16 rounds once when fused
  const tol =
    dtype === 'float16'
      ? { rtol: 4e-3, atol: 4e-3 * Math.sqrt(c.k) }
      : { rtol: 2e-5, atol: 2e-5 * Math.sqrt(c.k) };
  const label = `${what} ${activation}${withBias ? '+bias' : ''}${withPre ? '+pre' : ''} [${c.batches},${c.m},${c.k}]@[${c.k},${c.n}]`;
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const bad = firstMismatch(actual[i], expected[i], tol);
    expect(bad, `${label} ${i === 0 ? 'out' : 'preActivation'}`).toBeNull();
  }
}

const CASES: Case[] = [
  { batches: 1, m: 1, k: 1, n: 1 },
  { batches: 1, m: 3, k: 7, n: 33 },
  { batches: 1, m: 7, k: 257, n: 5, aTransposed: true },
  { batches: 2, m: 7, k: 33, n: 3, bTransposed: true },
  { batches: 3, m: 5, k: 12, n: 36, bBroadcast: true },
];

describe.skipIf(!!skipReason)(suiteName('webgpu matmulEpilogue vs cpu'), () => {
  const f16 = gpu?.info.dtypes.includes('float16') ?? false;
  const subgroups = gpu?.info.features.includes('subgroups') ?? false;

  // The sweeps force splitk, whose single store site keeps the 25 epilogue pipelines quick for
  // llvmpipe to compile; the last test runs every variant (and the unforced choice) once.
  it('every activation × bias × preActivation, odd sizes, transposes, batch broadcast', async () => {
    let i = 0;
    for (const activation of ACTIVATIONS) {
      for (const withBias of [false, true]) {
        for (const withPre of [false, true]) {
          process.env.KILN_MATMUL_VARIANT = 'splitk';
          // rotate through the cases so each combination meets a different layout
          await check(CASES[i++ % CASES.length], 'float32', activation, withBias, withPre, 'f32');
        }
      }
    }
  });

  it.skipIf(!f16)('float16 outputs: every activation with bias and preActivation', async () => {
    process.env.KILN_MATMUL_VARIANT = 'splitk';
    for (const [i, activation] of ACTIVATIONS.entries()) {
      await check(CASES[(i + 1) % CASES.length], 'float16', activation, true, true, 'f16');
    }
  });

  it('every kernel variant forced stores through the epilogue', async () => {
    // 33×36 @ 36×44: K and N multiples of 4 so the vec4 variants apply; [1,40]@[40,3]: splitk
    const aligned: Case = { batches: 2, m: 33, k: 36, n: 44, bBroadcast: true };
    const small: Case = { batches: 1, m: 5, k: 300, n: 3 };
    for (const variant of MATMUL_VARIANTS) {
      process.env.KILN_MATMUL_VARIANT = variant;
      const shapes = (c: Case) =>
        [
          { shape: [c.batches, c.m, c.k], strides: [c.m * c.k, c.k, 1] },
          { shape: [c.batches, c.k, c.n], strides: [c.bBroadcast ? 0 : c.k * c.n, c.n, 1] },
        ].map((v) => ({ ...v, offset: 0, dtype: 'float32' }) as unknown as View);
      const applies = [aligned, small].filter((c) => {
        const [a, b] = shapes(c);
        return matmulVariantApplies(variant, a, b, 65535, subgroups);
      });
      if (!variant.startsWith('sg') || subgroups) expect(applies.length, variant).toBeGreaterThan(0);
      for (const c of applies) await check(c, 'float32', 'relu', true, true, variant);
      if (f16 && applies.includes(aligned))
        await check(aligned, 'float16', 'silu', true, false, `${variant} f16`);
    }
    // the backend's own choice (heuristic or tuned), nothing forced
    delete process.env.KILN_MATMUL_VARIANT;
    await check(aligned, 'float32', 'gelu', true, true, 'unforced');
  }, 180_000); // one pipeline compile per variant × case; lavapipe compiles slowly under load
});
